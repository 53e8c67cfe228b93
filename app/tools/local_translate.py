"""The service's translation path in one process, without Ray: for evaluating an engine directly
(`app.tools.eval --engine`) and for fine-tuning's before/after scores.

It runs the very objects the deployments run (LLMReplica over an engine, PostProcessor, Translator),
so segmentation, prompts, length checks, adapters and cleanup are exactly the service's. Only the
transport differs: `LocalHandle` answers `handle.method.remote(...)` with a direct call.
"""

from __future__ import annotations

import asyncio

from app.config import ModelConfig
from app.inprocess import LocalHandle, NullMetrics
from app.translate.memory import TranslationMemory
from app.translate.translator import Context, Route, Translator, Usage
from deployments.llm_replica import LLMReplica
from deployments.postprocess import PostProcessor


class LocalTranslator:
    """One model (and its adapters) loaded in this process, translating like the service does."""

    def __init__(self, replica: LLMReplica):
        self.replica = replica
        self.config = replica.config
        # No translation memory: an evaluation must translate every line, repeats included.
        self._translator = Translator(TranslationMemory(0), LocalHandle(PostProcessor()), NullMetrics())
        self._handle = LocalHandle(replica)

    @classmethod
    async def start(cls, config: ModelConfig, engine_cls) -> LocalTranslator:
        replica = LLMReplica(config, engine_cls)
        await replica.start()
        return cls(replica)

    def route(self, adapter: str | None = None) -> Route:
        found = {a.name: a for a in self.config.adapters}
        if adapter is not None and adapter not in found:
            raise KeyError(f"unknown adapter {adapter!r}")
        style = (found[adapter].prompt_style if adapter else None) or self.config.prompt_style
        return Route(name=adapter or self.config.name, handle=self._handle, prompt_style=style, adapter=adapter)

    async def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        adapter: str | None = None,
        temperature: float = 0.0,
        group: int = 64,
    ) -> tuple[list[str], Usage]:
        """Translate each text (one unit each), in order; greedy by default, as evaluations should be.
        Texts go as concurrent requests of `group` lines, like a client posting batches, so the engine
        sees many sequences at once."""
        route = self.route(adapter)
        usage = Usage()

        async def one(start: int) -> list[str]:
            chunk = texts[start : start + group]
            ctx = Context(
                request_id=f"eval-{start}",
                model=route.name,
                prompt_style=route.prompt_style,
                source=source,
                target=target,
                glossary=None,
                temperature=temperature,
                handle=route.handle,
                adapter=route.adapter,
            )
            pieces = self._translator.plan([(text, "plain") for text in chunk])
            return [unit.text for unit in await self._translator.translate_all(pieces, len(chunk), ctx, usage)]

        parts = await asyncio.gather(*(one(i) for i in range(0, len(texts), group)))
        return [text for part in parts for text in part], usage

    async def close(self) -> None:
        await self.replica.close()


def translate_sync(
    config: ModelConfig, texts: list[str], source: str, target: str, adapters: list[str | None]
) -> dict[str | None, tuple[list[str], float]]:
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
