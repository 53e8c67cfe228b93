"""The service's translation path in one process, without Ray: for evaluating an engine directly
(`app.tools.eval --engine`) and for fine-tuning's before/after scores.

It runs the very objects the deployments run (LLMReplica over an engine, PostProcessor, Translator),
so segmentation, prompts, length checks, adapters and cleanup are exactly the service's. Only the
transport differs: `LocalHandle` answers `handle.method.remote(...)` with a direct call.
"""

from __future__ import annotations

import asyncio

from app.batch.translate import LocalHandle, NullMetrics
from app.config import ModelConfig
from app.translate.memory import TranslationMemory
from app.translate.translator import Context, Route, Translator, Usage
from deployments.llm_replica import LLMReplica
from deployments.postprocess import PostProcessor


class _LocalReplica(LLMReplica):
    def __del__(self):  # Serve awaits LLMReplica's async __del__; here `close` shuts the engine down
        pass


class LocalTranslator:
    """One model (and its adapters) loaded in this process, translating like the service does."""

    def __init__(self, replica: LLMReplica):
        self.replica = replica
        self.config = replica.config
        # No translation memory: an evaluation must translate every line, repeats included.
        self._translator = Translator(TranslationMemory(0), LocalHandle(PostProcessor()), NullMetrics())
        self._handle = LocalHandle(replica)

    @classmethod
    async def start(cls, config: ModelConfig, engine_cls) -> "LocalTranslator":
        replica = _LocalReplica.__new__(_LocalReplica)
        await replica.__init__(config.model_dump(), engine_cls)  # Serve awaits the async __init__ alike
        return cls(replica)

    def route(self, adapter: str | None = None) -> Route:
        found = {a.name: a for a in self.config.adapters}
        if adapter is not None and adapter not in found:
            raise KeyError(f"unknown adapter {adapter!r}")
        style = (found[adapter].prompt_style if adapter else None) or self.config.prompt_style
        return Route(adapter or self.config.name, self._handle, style, adapter)

    async def translate(self, texts: list[str], source: str, target: str, adapter: str | None = None,
                        temperature: float = 0.0, group: int = 64) -> tuple[list[str], Usage]:
        """Translate each text (one unit each), in order; greedy by default, as evaluations should be.
        Texts go as concurrent requests of `group` lines, like a client posting batches, so the engine
        sees many sequences at once."""
        route = self.route(adapter)
        usage = Usage()

        async def one(start: int) -> list[str]:
            chunk = texts[start:start + group]
            ctx = Context(f"eval-{start}", route.name, route.prompt_style, source, target, None, temperature,
                          route.handle, route.adapter)
            pieces = self._translator.plan([(text, "plain") for text in chunk])
            out = [""] * len(chunk)
            async for event in self._translator.run(pieces, len(chunk), ctx, usage):
                if event[0] == "unit":
                    out[event[1]] = event[2]
            return out

        parts = await asyncio.gather(*(one(i) for i in range(0, len(texts), group)))
        return [text for part in parts for text in part], usage

    async def close(self) -> None:
        await self.replica.engine.shutdown()


def translate_sync(config: ModelConfig, texts: list[str], source: str, target: str,
                   adapters: list[str | None]) -> dict[str | None, tuple[list[str], float]]:
    """Load once, translate `texts` through the base model (None) and/or each adapter; seconds each."""
    import time

    async def run():
        from deployments.builder import default_engines

        local = await LocalTranslator.start(config, default_engines()[config.engine])
        results = {}
        try:
            for adapter in adapters:
                started = time.perf_counter()
                hyps, _ = await local.translate(texts, source, target, adapter)
                results[adapter] = (hyps, time.perf_counter() - started)
        finally:
            await local.close()
        return results

    return asyncio.run(run())
