"""The translation path, shared by /v1/translate and /v1/translate/file:

units -> pieces (segment.split) -> placeholders (segment.protect) -> translation memory, or a prompt
(prompts.py) sent to the model's replicas, all pieces concurrently -> PostProcessor (cleanup and
placeholder restore) -> reassembled in order. Planning (split and protect) of a large request runs
on the Translator's own small thread pool, never on the event loop.

`Translator.run` yields events in document order as soon as the pieces before them are done (a
`Delta` per piece, a `UnitDone` per unit), so a streamed answer grows front to back while later
pieces are still being translated.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from app.errors import FanyiError, InvalidRequest
from app.generation import GenerateRequest
from app.translate import cleanup, prompts, segment
from app.translate.memory import Entry, MemoryScope, TranslationMemory
from app.translate.pool import Abandoned, CpuPool
from app.translate.postprocess import restore_placeholders

logger = logging.getLogger("fanyi.translation")

MAX_PIECES = 2000  # per request: a 20-page document is a few hundred
PIECE_CHARS = 400  # longer lines are cut into sentences packed up to this size
CONCURRENCY = 32  # pieces of one request in flight at once; Serve spreads them over the replicas
# Cleanup is pure string work (milliseconds). A hung or lost PostProcessor replica must not hold a
# translation: Serve's handle waits for a live replica as long as it takes, so past this the raw output goes out.
POSTPROCESS_TIMEOUT_S = 5.0
PLAN_THREADS = 2  # planning threads per Translator: large requests queue for them
# Requests this small are planned on the event loop: microseconds, and never queued behind a large one.
INLINE_PLAN_CHARS = 2000


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
    caller: str | None = None  # the API key's label: memory entries are kept per caller (None: shared)

    def memory_scope(self, fmt: str) -> MemoryScope:
        return MemoryScope(
            self.caller,
            self.model,
            self.adapter,
            self.prompt_style,
            self.source,
            self.target,
            fmt,
            tuple(sorted((self.glossary or {}).items())),
            self.temperature,
        )


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


@dataclass(frozen=True)
class Delta:
    """The translation of one more piece of unit `unit`, in document order."""

    unit: int
    text: str


@dataclass(frozen=True)
class UnitDone:
    """Every piece of unit `unit` is translated: its whole text and the pieces' flags."""

    unit: int
    text: str
    flags: list[str]


Event = Delta | UnitDone


@dataclass
class _Piece:
    unit: int
    text: str  # the original text of this piece
    fmt: str = "plain"  # its unit's format
    masked: segment.Masked | None = None  # set for pieces the model translates


class Translator:
    def __init__(
        self,
        memory: TranslationMemory,
        postprocessor: Any,
        metrics: Any,
        max_pieces: int = MAX_PIECES,
        plan_threads: int = PLAN_THREADS,
    ):
        """`max_pieces`: most pieces one request may be split into (limits.max_segments)."""
        self.memory = memory
        self.postprocessor = postprocessor
        self.metrics = metrics
        self.max_pieces = max_pieces
        self.pool = CpuPool(plan_threads, "fanyi-plan")  # threads start on first use

    def plan(
        self, units: list[tuple[str, str]], param: str = "text", stop: threading.Event | None = None
    ) -> list[_Piece]:
        """Split units into pieces; `param` names the request field an over-limit error points at.
        Raises Abandoned once `stop` is set: its request is gone."""
        pieces, count = [], 0
        for index, (text, fmt) in enumerate(units):
            for piece in segment.split(text, fmt, PIECE_CHARS):
                if stop is not None and stop.is_set():
                    raise Abandoned("planning stopped: its request was cancelled")
                masked = segment.protect(piece.text) if piece.translate else None
                count += masked is not None
                if count > self.max_pieces:  # at once: the rest would be work for nothing
                    raise InvalidRequest(
                        f"too many segments to translate in one request (limit {self.max_pieces})",
                        param=param,
                        code="too_many_segments",
                    )
                pieces.append(_Piece(index, piece.text, fmt, masked))
        return pieces

    async def prepare(self, units: list[tuple[str, str]], param: str = "text") -> list[_Piece]:
        """plan() for a request being served: off the event loop unless the units are small."""
        if sum(len(text) for text, _ in units) <= INLINE_PLAN_CHARS:
            return self.plan(units, param)
        stop = threading.Event()
        try:
            return await self.pool.run(self.plan, units, param, stop)
        finally:
            stop.set()  # cancelled while running: the thread gives up at its next piece

    async def run(self, pieces: list[_Piece], unit_count: int, ctx: Context, usage: Usage) -> AsyncIterator[Event]:
        """Translate planned pieces. Yields a Delta for each piece in document order, and a UnitDone
        once every piece of a unit is done.

        Each piece is a task, awaited in document order: whatever a piece raises (its memory key, the
        engine, cleanup) reaches this generator's consumer when its turn comes, and nothing can leave a
        waiter without an answer. The tasks end with the generator, however it ends."""
        gate = asyncio.Semaphore(CONCURRENCY)
        tasks: dict[int, asyncio.Task] = {}
        try:
            scopes: dict[str, MemoryScope] = {}
            for number, piece in enumerate(pieces):
                if piece.masked is not None:
                    if piece.fmt not in scopes:
                        scopes[piece.fmt] = ctx.memory_scope(piece.fmt)
                    task = asyncio.ensure_future(self._translate(piece, scopes[piece.fmt], number, ctx, usage, gate))
                    task.add_done_callback(_retrieve)
                    tasks[number] = task
            by_unit: list[list[tuple[int, _Piece]]] = [[] for _ in range(unit_count)]
            for number, piece in enumerate(pieces):
                by_unit[piece.unit].append((number, piece))
            for index, group in enumerate(by_unit):
                parts, flags = [], []
                for number, piece in group:
                    text = piece.text
                    if number in tasks:
                        text, piece_flags = await tasks[number]
                        flags += piece_flags
                        # The segmenter left the source's surrounding whitespace in the piece.
                        text = _keep_spacing(piece.text, text)
                    parts.append(text)
                    yield Delta(index, text)
                yield UnitDone(index, "".join(parts), sorted(set(flags)))
        finally:
            for task in tasks.values():
                task.cancel()

    async def translate_all(self, pieces: list[_Piece], unit_count: int, ctx: Context, usage: Usage) -> list[UnitDone]:
        """`run` for a caller that wants only the finished units, in order."""
        return [event async for event in self.run(pieces, unit_count, ctx, usage) if isinstance(event, UnitDone)]

    async def _translate(
        self, piece: _Piece, scope: MemoryScope, number: int, ctx: Context, usage: Usage, gate: asyncio.Semaphore
    ) -> tuple[str, list[str]]:
        masked = piece.masked
        hit = self.memory.get(scope, masked.text)
        if hit is not None:
            usage.cached += 1
            self.metrics.observe_memory(ctx.model, hit=True)
            text, missing = restore_placeholders(hit.masked, masked.slots)
            return text, sorted(set(hit.flags) | set(missing))
        if scope.greedy:  # sampled translations are neither looked up nor stored
            self.metrics.observe_memory(ctx.model, hit=False)
        async with gate:
            raw = await self._generate(masked.text, f"{ctx.request_id}-{number}", ctx, usage)
        cleaned = await self._clean(masked, raw, ctx, piece.fmt)
        self.memory.put(scope, masked.text, Entry(cleaned["masked"], tuple(cleaned["flags"])))
        return cleaned["text"], cleaned["flags"]

    async def _generate(self, text: str, request_id: str, ctx: Context, usage: Usage) -> str:
        text = prompts.single_line(ctx.prompt_style, text)
        prompt = prompts.translation_prompt(ctx.prompt_style, text, ctx.source, ctx.target, ctx.glossary)
        req = GenerateRequest(
            request_id=request_id,
            messages=prompt.messages,
            prompt=prompt.text,
            max_tokens=min(1024, 4 * len(text) + 32),
            clamp_max_tokens=True,
            temperature=ctx.temperature,
            stop=prompt.stop,
            adapter=ctx.adapter,
        )
        result = await ctx.handle.complete.remote(req)
        usage.prompt_tokens += result.prompt_tokens
        usage.completion_tokens += result.completion_tokens
        return result.text

    async def _clean(self, masked: segment.Masked, raw: str, ctx: Context, fmt: str) -> dict:
        try:
            call = self.postprocessor.clean.remote(masked.text, raw, ctx.target, ctx.glossary, masked.slots, fmt)
            return await asyncio.wait_for(call, POSTPROCESS_TIMEOUT_S)
        except FanyiError:
            raise
        except Exception:  # the post-processor is down or hung: degrade to the raw output, flagged
            logger.warning("request %s: post-processing unavailable", ctx.request_id, exc_info=True)
            self.metrics.observe_error(ctx.model, "postprocess_unavailable")
            out = cleanup.html_text(raw.strip()) if fmt == "html" else raw.strip()
            text, missing = restore_placeholders(out, masked.slots)
            return {"text": text, "masked": out, "flags": ["postprocess_unavailable", *missing]}


def _retrieve(task: asyncio.Task) -> None:
    """Mark a piece's outcome as seen: the consumer may have stopped before reaching it, and asyncio
    would log its exception as never retrieved."""
    if not task.cancelled():
        task.exception()


def _keep_spacing(original: str, translated: str) -> str:
    lead = original[: len(original) - len(original.lstrip())]
    tail = original[len(original.rstrip()) :]
    return lead + translated.strip() + tail
