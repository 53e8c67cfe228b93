"""LLMReplica: one engine, its tokenizer and stream pacing; LLMDeployment: the same behind Ray Serve.

LLMReplica is a plain class with an explicit life cycle, usable outside Serve (the batch job's engine
actors, evaluation, tests): `replica = LLMReplica(model, engine_cls)`, `await replica.start()`, ...,
`await replica.close()`. LLMDeployment is what the builder deploys, with options derived from the
config (replica count, autoscaling, GPUs per replica): Serve awaits its constructor, which starts the
engine, and calls its health and routing hooks. The engine class is injected either way, so tests and
the comparison benchmarks run the same replica over another engine.

The replica owns tokenization and prompt-length checks because it owns the tokenizer; the router
never needs to load one. Errors are raised before the first chunk is yielded, so the router can still
answer with a proper 4xx instead of a broken 200 stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.api.error_map import ClientErrorsAtInfo
from app.api.protocol import unencodable
from app.config import ModelConfig
from app.errors import ContextLengthExceeded, EngineUnavailable, InvalidRequest, ModelNotFound
from app.generation import GenerateChunk, GenerateRequest
from deployments.engine import Engine, SamplingOptions

logger = logging.getLogger("fanyi.replica")

# Prompts longer than this (characters) are tokenized in a thread: a 1 MiB prompt takes about a
# second of tokenizer time, which on the replica's event loop held every other request (and vLLM's
# output loop) that long. Shorter ones stay inline: a thread hop costs more than encoding them.
INLINE_PROMPT_CHARS = 8192
# vLLM's bound on `seed` (vllm/entrypoints/openai/*/protocol.py): a signed 64-bit integer.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


class LLMReplica:
    def __init__(self, model: ModelConfig | dict[str, Any], engine_cls: type[Engine]):
        """Nothing loads here: `start` loads the model."""
        self.config = ModelConfig.model_validate(model)
        self.engine = engine_cls(self.config)
        self.adapters = {a.name for a in self.config.adapters}
        self.streaming = 0  # requests streaming right now, for the chunk pacing below
        # One thread for long prompts: they queue behind each other instead of taking every core.
        self.tokenizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanyi-tokenize")

    async def start(self) -> None:
        started = time.monotonic()
        await self.engine.start()
        logger.info("model %s ready in %.1fs", self.config.name, time.monotonic() - started)

    async def close(self) -> None:
        """Release the engine. Under Serve nothing calls it: the replica's process ends, and vLLM's
        child processes die with it (deployments/vllm_plugin.py)."""
        self.tokenizing.shutdown(wait=False, cancel_futures=True)
        await self.engine.shutdown()

    # -- requests ---------------------------------------------------------------------------------

    async def _token_ids(self, req: GenerateRequest) -> list[int]:
        """Token ids of the prompt, tokenized off the event loop when it is long. A string no tokenizer
        can encode (a lone surrogate the router did not see: a file, a batch row) is the client's error."""
        size = len(req.prompt or "") + sum(len(m.get("content") or "") for m in req.messages or ())
        if size <= INLINE_PROMPT_CHARS:
            return self._checked_ids(req)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.tokenizing, self._checked_ids, req)

    def _checked_ids(self, req: GenerateRequest) -> list[int]:
        param = "messages" if req.messages is not None else "prompt"
        problem = unencodable(req.prompt) or unencodable([m.get("content") for m in req.messages or ()])
        if problem is not None:  # the tokenizer would raise a TypeError: a 500
            raise InvalidRequest(f"{param}: {problem}", param=param)
        return self._prompt_ids(req)

    def _prompt_ids(self, req: GenerateRequest) -> list[int]:
        return prompt_token_ids(self.engine.tokenizer, req)

    def _sampling(self, req: GenerateRequest, prompt_len: int) -> SamplingOptions:
        limit = self.engine.max_model_len
        if prompt_len == 0:
            raise InvalidRequest("the prompt is empty", param="prompt")
        if prompt_len >= limit:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {limit} tokens; the prompt has {prompt_len}.",
                param="messages" if req.messages is not None else "prompt",
            )
        if req.seed is not None and not SEED_MIN <= req.seed <= SEED_MAX:
            raise InvalidRequest(f"seed must lie in [{SEED_MIN}, {SEED_MAX}]", param="seed")
        max_tokens = req.max_tokens if req.max_tokens is not None else limit - prompt_len
        if req.clamp_max_tokens:
            max_tokens = min(max_tokens, limit - prompt_len)
        if prompt_len + max_tokens > limit:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {limit} tokens; you asked for {prompt_len + max_tokens} "
                f"({prompt_len} in the prompt, {max_tokens} to generate). Lower max_tokens or shorten the prompt.",
                param="max_tokens",
            )
        return SamplingOptions(
            max_tokens=max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=tuple(req.stop),
            seed=req.seed,
            ignore_eos=req.ignore_eos,
        )

    async def generate(self, req: GenerateRequest, paced: bool = True) -> AsyncIterator[GenerateChunk]:
        """Stream chunks. Ray Serve cancels this generator when the caller goes away, and closing
        the engine's iterator aborts the request there, freeing its KV cache.

        Pacing: every yielded chunk becomes a Ray object, and past a few thousand a second that cost,
        not the GPU, caps throughput (measured: 64 streams ran at a third of bare vLLM's tokens/s).
        So after each chunk this request waits `streaming / stream_chunk_rate` seconds before asking
        the engine again, and the engine merges the tokens made meanwhile into one delta. The first
        chunk is never delayed (TTFT), and a lone stream waits well under a millisecond."""
        ids = await self._token_ids(req)
        sampling = self._sampling(req, len(ids))
        if not paced:
            sampling = dataclasses.replace(sampling, final_only=True)
        produced = 0
        if req.adapter is not None and req.adapter not in self.adapters:
            raise ModelNotFound(f"The model '{req.adapter}' does not exist", param="model")
        stream = self.engine.generate(req.request_id, ids, sampling, req.adapter)
        counted = int(paced)  # non-streamed requests produce one object whatever their pace
        self.streaming += counted
        try:
            async for out in stream:
                produced += out.num_new_tokens
                if out.text or out.finish_reason:
                    yield GenerateChunk(out.text, len(ids), produced, out.finish_reason)
                    delay = self.streaming / self.config.stream_chunk_rate
                    if paced and out.finish_reason is None and delay >= 0.002:
                        await asyncio.sleep(delay)
        finally:
            self.streaming -= counted
            await stream.aclose()

    async def complete(self, req: GenerateRequest) -> GenerateChunk:
        """Non-streaming: the whole text in one reply, one Ray object instead of one per token."""
        parts, last = [], None
        async for chunk in self.generate(req, paced=False):
            parts.append(chunk.text)
            last = chunk
        if last is None:
            raise EngineUnavailable("the engine returned nothing")
        return GenerateChunk("".join(parts), last.prompt_tokens, last.completion_tokens, last.finish_reason)

    async def check_health(self) -> None:
        """Raise if the engine can no longer serve. Serve calls it every health_check_period_s."""
        await self.engine.check_health()

    async def stats(self) -> dict[str, Any]:
        s = await self.engine.stats()
        return {"running": s.running, "waiting": s.waiting, "kv_cache_usage": s.kv_cache_usage, **s.extra}


class LLMDeployment(LLMReplica):
    """The replica as a Ray Serve deployment (`LLM:<model>`)."""

    async def __init__(self, model: dict[str, Any], engine_cls: type[Engine]):
        super().__init__(model, engine_cls)
        ClientErrorsAtInfo.install()  # Serve's log of a prompt over the context: the client's error, not ours
        await self.start()

    async def info(self) -> dict[str, Any]:
        """What a client of the running app (the batch job in service mode) needs to know of this model."""
        from ray import serve

        replica = serve.get_replica_context().replica_id.unique_id
        return {
            "model": self.config.name,
            "max_model_len": self.engine.max_model_len,
            "replica": replica,
            "prompt_style": self.config.prompt_style,
        }

    async def record_routing_stats(self) -> dict[str, float]:
        """Serve collects this for request routers; a custom router can prefer idle engines."""
        s = await self.engine.stats()
        return {"running": float(s.running), "waiting": float(s.waiting), "kv_cache_usage": s.kv_cache_usage}


def prompt_token_ids(tok, req: GenerateRequest) -> list[int]:
    """The prompt as the engine gets it: token ids as sent (checked against the vocabulary), a chat
    rendered by the model's template, or a completion prompt with the tokenizer's special tokens."""
    if req.prompt_token_ids is not None:
        vocab = len(tok)
        if any(not 0 <= t < vocab for t in req.prompt_token_ids):
            raise InvalidRequest(f"prompt token ids must lie in [0, {vocab})", param="prompt")
        return list(req.prompt_token_ids)
    if req.messages is not None:
        text = render_chat(tok, req.messages)
        # The chat template already wrote BOS and other special tokens.
        return tok.encode(text, add_special_tokens=False)
    return tok.encode(req.prompt or "", add_special_tokens=True)


def render_chat(tokenizer, messages: list[dict[str, str]]) -> str:
    """Apply the model's chat template; base models without one get a plain role-prefixed transcript."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"
