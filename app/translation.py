"""The translation path, shared by /v1/translate and /v1/translate/file:

units -> pieces (segment.split) -> placeholders (segment.protect) -> translation memory, or a prompt
(prompts.py) sent to the model's replicas, all pieces concurrently -> PostProcessor (cleanup and
placeholder restore) -> reassembled in order.

`Translator.run` yields events in document order as soon as the pieces before them are done, so a
streamed answer grows front to back while later pieces are still being translated.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator

from app import prompts, segment
from app.errors import FanyiError, InvalidRequest
from app.memory import Entry, TranslationMemory
from deployments.llm_replica import GenerateRequest
from deployments.postprocess import restore_placeholders

logger = logging.getLogger("fanyi.translation")

MAX_PIECES = 2000  # per request: a 20-page document is a few hundred
PIECE_CHARS = 400  # longer lines are cut into sentences packed up to this size
CONCURRENCY = 32  # pieces of one request in flight at once; Serve spreads them over the replicas
# Cleanup is pure string work (milliseconds). A hung or lost PostProcessor replica must not hold a
# translation: Serve's handle waits for a live replica as long as it takes, so past this the raw output goes out.
POSTPROCESS_TIMEOUT_S = 5.0


@dataclass
class Context:
    request_id: str
    model: str
    prompt_style: str
    source: str
    target: str
    glossary: dict[str, str] | None
    temperature: float
    handle: Any  # the model's DeploymentHandle
    adapter: str | None = None  # a LoRA adapter on that model, by name


@dataclass(frozen=True)
class Route:
    """Where a client's `model` goes: a base model's replicas, maybe through one of its LoRA adapters."""

    name: str  # what the client sent (or the default model's name)
    handle: Any
    prompt_style: str
    adapter: str | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: int = 0


@dataclass
class _Piece:
    unit: int
    text: str  # the original text of this piece
    masked: segment.Masked | None = None  # set for pieces the model translates
    result: asyncio.Future | None = None


class Translator:
    def __init__(self, memory: TranslationMemory, postprocessor: Any, metrics: Any):
        self.memory = memory
        self.postprocessor = postprocessor
        self.metrics = metrics
        self.max_pieces = MAX_PIECES  # limits.max_segments, set by the router

    def plan(self, units: list[tuple[str, str]], param: str = "text") -> list[_Piece]:
        """Split units into pieces; `param` names the request field an over-limit error points at."""
        pieces = []
        for index, (text, fmt) in enumerate(units):
            for piece in segment.split(text, fmt, PIECE_CHARS):
                masked = segment.protect(piece.text) if piece.translate else None
                pieces.append(_Piece(index, piece.text, masked))
        if sum(p.masked is not None for p in pieces) > self.max_pieces:
            raise InvalidRequest(f"too many segments to translate in one request (limit {self.max_pieces})",
                                 param=param, code="too_many_segments")
        return pieces

    async def run(self, pieces: list[_Piece], unit_count: int, ctx: Context, usage: Usage) -> AsyncIterator[tuple]:
        """Translate planned pieces. Yields ("delta", unit, text) for each piece in document order,
        and ("unit", unit, text, flags) once every piece of a unit is done."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONCURRENCY)
        tasks = []
        for number, piece in enumerate(pieces):
            if piece.masked is not None:
                piece.result = loop.create_future()
                tasks.append(asyncio.ensure_future(self._translate(piece, number, ctx, usage, gate)))
        by_unit: list[list[_Piece]] = [[] for _ in range(unit_count)]
        for piece in pieces:
            by_unit[piece.unit].append(piece)
        try:
            for index, group in enumerate(by_unit):
                parts, flags = [], []
                for piece in group:
                    text = piece.text
                    if piece.masked is not None:
                        text, piece_flags = await piece.result
                        flags += piece_flags
                        # The segmenter left the source's surrounding whitespace in the piece.
                        text = _keep_spacing(piece.text, text)
                    parts.append(text)
                    yield ("delta", index, text)
                yield ("unit", index, "".join(parts), sorted(set(flags)))
        finally:
            for task in tasks:
                task.cancel()
            for piece in pieces:  # results nobody will await now: asyncio would log their exceptions
                if piece.result is not None and not piece.result.cancel() and not piece.result.cancelled():
                    piece.result.exception()

    async def _translate(self, piece: _Piece, number: int, ctx: Context, usage: Usage,
                         gate: asyncio.Semaphore) -> None:
        masked = piece.masked
        key = self.memory.key(ctx.model, ctx.source, ctx.target, ctx.glossary, masked.text)
        hit = self.memory.get(key)
        if hit is not None:
            usage.cached += 1
            self.metrics.observe_memory(ctx.model, hit=True)
            text, missing = restore_placeholders(hit.masked, masked.slots)
            piece.result.set_result((text, sorted(set(hit.flags) | set(missing))))
            return
        self.metrics.observe_memory(ctx.model, hit=False)
        try:
            async with gate:
                raw = await self._generate(masked.text, f"{ctx.request_id}-{number}", ctx, usage)
            cleaned = await self._clean(masked, raw, ctx)
            if "postprocess_unavailable" not in cleaned["flags"]:
                self.memory.put(key, Entry(cleaned["masked"], tuple(cleaned["flags"])))
            piece.result.set_result((cleaned["text"], cleaned["flags"]))
        except BaseException as exc:  # delivered to whoever awaits this piece, in order
            if not piece.result.done():
                piece.result.set_exception(exc)
            if not isinstance(exc, (Exception, asyncio.CancelledError)):
                raise

    async def _generate(self, text: str, request_id: str, ctx: Context, usage: Usage) -> str:
        text = prompts.single_line(ctx.prompt_style, text)
        prompt = prompts.translation_prompt(ctx.prompt_style, text, ctx.source, ctx.target, ctx.glossary)
        req = GenerateRequest(
            request_id=request_id, messages=prompt.messages, prompt=prompt.text,
            max_tokens=min(1024, 4 * len(text) + 32), clamp_max_tokens=True,
            temperature=ctx.temperature, stop=prompt.stop, adapter=ctx.adapter,
        )
        result = await ctx.handle.complete.remote(req)
        usage.prompt_tokens += result.prompt_tokens
        usage.completion_tokens += result.completion_tokens
        return result.text

    async def _clean(self, masked: segment.Masked, raw: str, ctx: Context) -> dict:
        try:
            call = self.postprocessor.clean.remote(masked.text, raw, ctx.target, ctx.glossary, masked.slots)
            return await asyncio.wait_for(call, POSTPROCESS_TIMEOUT_S)
        except FanyiError:
            raise
        except Exception:  # the post-processor is down or hung: degrade to the raw output, flagged
            logger.warning("request %s: post-processing unavailable", ctx.request_id, exc_info=True)
            self.metrics.observe_error(ctx.model, "postprocess_unavailable")
            text, missing = restore_placeholders(raw.strip(), masked.slots)
            return {"text": text, "masked": raw.strip(), "flags": ["postprocess_unavailable", *missing]}


def _keep_spacing(original: str, translated: str) -> str:
    lead = original[: len(original) - len(original.lstrip())]
    tail = original[len(original.rstrip()):]
    return lead + translated.strip() + tail

