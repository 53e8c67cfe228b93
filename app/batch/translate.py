"""Translating the rows of one shard through the service's own translation path.

Both engine modes drive `app.translate.translator.Translator`, the code behind /v1/translate: segmentation,
placeholders, the translation memory, the prompt (app/translate/prompts.py), the replica's tokenization and
context checks, post-processing and reassembly. Only the handles differ:

- service mode passes the running application's DeploymentHandles (`LLM:<model>`, `PostProcessor`);
- offline mode passes `LocalHandle`s, which call an in-process `LLMReplica` and `PostProcessor` with
  the same method names, so the translation path cannot tell the difference.

Every row of a shard is started at once, so the engine sees hundreds of requests and batches them.
A row that fails for a reason of its own (context too long, rejected input) becomes an error row at
once; anything else (engine hiccup, full queue) is retried a few times before it does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.api.error_map import to_client_error
from app.batch.shards import Row
from app.inprocess import NullMetrics
from app.translate import languages
from app.translate.memory import TranslationMemory
from app.translate.translator import Context, Translator, Usage

logger = logging.getLogger("fanyi.batch")


def fixed_length(max_tokens: int) -> Callable:
    """Every answer exactly `max_tokens` long (no EOS, no stop strings): for throughput benchmarks,
    where both sides must generate the same number of tokens."""

    def rewrite(req):
        return dataclasses.replace(req, max_tokens=max_tokens, ignore_eos=True, stop=[], clamp_max_tokens=True)

    return rewrite


@dataclass
class _RowStats:
    segments: int = 0  # pieces sent to the model (memory hits included)
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class ShardResult:
    translations: list[str | None]
    errors: list[dict]
    stats: dict = field(default_factory=dict)


@dataclass
class JobSettings:
    """What every row of the job shares; plain values, sent to each actor."""

    model: str
    prompt_style: str
    source: str | None  # None: detected per row
    target: str
    temperature: float = 0.0
    retries: int = 3
    memory_entries: int = 100_000


class ShardTranslator:
    def __init__(
        self, settings: JobSettings, llm: Any, postprocessor: Any, on_give_up: Callable[[], Any] | None = None
    ):
        self.settings = settings
        self.llm = llm
        self.translator = Translator(TranslationMemory(settings.memory_entries), postprocessor, NullMetrics())
        # Called when a row failed every retry; offline mode checks the engine there and raises if it
        # is dead, so Ray restarts the actor and retries the whole shard instead of losing its rows.
        self.on_give_up = on_give_up

    async def translate(self, shard_id: str, rows: list[Row]) -> ShardResult:
        usages = [_RowStats() for _ in rows]
        outcomes = await asyncio.gather(*(self._row(shard_id, row, usage) for row, usage in zip(rows, usages)))
        translations, errors = [], []
        for row, (text, reason) in zip(rows, outcomes):
            translations.append(text)
            if reason is not None:
                errors.append({"id": row.id, "row": row.number, "reason": reason})
        stats = {
            "rows": len(rows),
            "errors": len(errors),
            "segments": sum(u.segments for u in usages),
            "cached": sum(u.cached for u in usages),
            "input_tokens": sum(u.input_tokens for u in usages),
            "output_tokens": sum(u.output_tokens for u in usages),
        }
        return ShardResult(translations, errors, stats)

    async def _row(self, shard_id: str, row: Row, usage: _RowStats) -> tuple[str | None, str | None]:
        if row.error is not None:
            return None, row.error
        s = self.settings
        source = s.source or languages.detect(row.text)
        for attempt in range(s.retries + 1):
            attempt_usage = Usage()
            ctx = Context(
                request_id=f"{shard_id}-{row.number}-{attempt}",
                model=s.model,
                prompt_style=s.prompt_style,
                source=source,
                target=s.target,
                glossary=None,
                temperature=s.temperature,
                handle=self.llm,
            )
            try:
                pieces = self.translator.plan([(row.text, "plain")])
                [done] = await self.translator.translate_all(pieces, 1, ctx, attempt_usage)
                text = done.text
                usage.input_tokens += attempt_usage.prompt_tokens
                usage.output_tokens += attempt_usage.completion_tokens
                usage.cached += attempt_usage.cached
                usage.segments += sum(p.masked is not None for p in pieces)
                return text, None
            except Exception as exc:
                err = to_client_error(exc, ctx.request_id)
                if err.status_code < 500:  # the row itself is the problem: retrying cannot help
                    return None, f"{err.code or err.error_type}: {err.message}"
                if attempt == s.retries:
                    if self.on_give_up is not None:
                        await self.on_give_up()
                    return None, f"{err.code or err.error_type}: failed after {s.retries + 1} attempts"
                logger.warning(
                    "row %s of %s: attempt %d failed (%s), retrying", row.id, shard_id, attempt + 1, type(exc).__name__
                )
                await asyncio.sleep(min(0.5 * 2**attempt, 8))
        return None, "unreachable"  # the loop always returns
