"""The transformers engine: the same interface as the vLLM one, over a plain Hugging Face model.

It exists for the transformers-vs-vLLM comparison and as a fallback for architectures vLLM lacks.
It runs one request at a time (no continuous batching, no paged KV cache): exactly the baseline the
comparison measures. Decoding runs in a worker thread so the replica's event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

from app.errors import EngineUnavailable
from deployments.engine import Engine, EngineOutput, EngineStats, SamplingOptions

logger = logging.getLogger("fanyi.hf")
_DONE = object()


class TransformersEngine(Engine):
    def __init__(self, config):
        super().__init__(config)
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._running = 0
        self._failed: str | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        device = "cuda" if self.config.device == "cuda" and torch.cuda.is_available() else "cpu"
        dtype = self.config.dtype if self.config.dtype != "auto" else "auto"
        self._tok = AutoTokenizer.from_pretrained(self.config.source)
        if self.config.engine_args.get("load_format") == "dummy":
            # Random weights made on the device, as vLLM's load_format=dummy: speed runs need no checkpoint.
            from transformers import AutoConfig

            with torch.device(device):
                model = AutoModelForCausalLM.from_config(
                    AutoConfig.from_pretrained(self.config.source),
                    dtype=getattr(torch, dtype) if dtype != "auto" else torch.bfloat16,
                )
        else:
            model = AutoModelForCausalLM.from_pretrained(self.config.source, dtype=dtype)
        self._model = _with_adapters(model, self.config.adapters).to(device).eval()
        self._device = device
        cfg_len = getattr(self._model.config, "max_position_embeddings", 2048)
        self._max_len = self.config.max_model_len or cfg_len
        eos = self._model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self._eos = set(eos) | ({self._tok.eos_token_id} if self._tok.eos_token_id is not None else set())

    @property
    def tokenizer(self):
        return self._tok

    @property
    def max_model_len(self) -> int:
        return self._max_len

    async def generate(
        self, request_id: str, prompt_token_ids: list[int], sampling: SamplingOptions, adapter: str | None = None
    ) -> AsyncIterator[EngineOutput]:
        cancel = threading.Event()
        self._waiting += 1
        acquired = False
        try:
            async with self._lock:
                acquired = True
                self._waiting -= 1
                self._running += 1
                try:
                    loop = asyncio.get_running_loop()
                    queue: asyncio.Queue = asyncio.Queue()
                    emit = lambda item: loop.call_soon_threadsafe(queue.put_nowait, item)  # noqa: E731
                    worker = loop.run_in_executor(None, self._decode, prompt_token_ids, sampling, cancel, emit, adapter)
                    while (item := await queue.get()) is not _DONE:
                        if isinstance(item, BaseException):
                            raise EngineUnavailable("the model engine failed; retry the request") from item
                        yield item
                    await worker
                finally:
                    cancel.set()  # stops the worker thread if the consumer went away
                    self._running -= 1
        finally:
            if not acquired:
                self._waiting -= 1  # cancelled while still queued for the lock

    def _decode(self, prompt_ids, sampling: SamplingOptions, cancel: threading.Event, emit, adapter) -> None:
        try:
            with _adapter_scope(self._model, adapter):
                self._decode_tokens(prompt_ids, sampling, cancel, emit)
        except BaseException as exc:  # surfaced to the consumer as EngineUnavailable
            logger.exception("transformers decoding failed")
            self._failed = repr(exc)
            emit(exc)
        finally:
            emit(_DONE)

    def _decode_tokens(self, prompt_ids, sampling: SamplingOptions, cancel: threading.Event, emit) -> None:
        torch = self._torch
        gen = torch.Generator(device=self._device)
        gen.manual_seed(sampling.seed if sampling.seed is not None else torch.seed())
        ids = torch.tensor([prompt_ids], device=self._device)
        past, out_ids, text, finish = None, [], "", "length"
        with torch.inference_mode():
            for _ in range(sampling.max_tokens):
                if cancel.is_set():
                    finish = "abort"
                    break
                result = self._model(input_ids=ids, past_key_values=past, use_cache=True)
                past = result.past_key_values
                token = _sample(torch, result.logits[0, -1].float(), sampling, gen)
                if token in self._eos and not sampling.ignore_eos:
                    finish = "stop"
                    break
                out_ids.append(token)
                ids = torch.tensor([[token]], device=self._device)
                # Decoding the whole tail each step keeps multi-byte characters intact.
                full = self._tok.decode(out_ids, skip_special_tokens=True)
                cut = _stop_at(full, sampling.stop)
                if cut is not None:
                    emit(EngineOutput(full[len(text) : cut], 1, "stop"))
                    return
                delta, text = full[len(text) :], full
                emit(EngineOutput(delta, 1, None))
        emit(EngineOutput("", 0, finish))

    async def check_health(self) -> None:
        if self._failed:
            raise EngineUnavailable("engine failed")

    async def stats(self) -> EngineStats:
        return EngineStats(running=self._running, waiting=self._waiting, kv_cache_usage=0.0)


def _with_adapters(model, adapters):
    """Wrap the model in peft with every configured LoRA adapter loaded under its served name."""
    if not adapters:
        return model
    from peft import PeftModel

    first, *rest = adapters
    model = PeftModel.from_pretrained(model, first.path, adapter_name=first.name)
    for adapter in rest:
        model.load_adapter(adapter.path, adapter_name=adapter.name)
    return model


def _adapter_scope(model, adapter: str | None):
    """One request at a time runs here, so switching the active adapter per request is safe."""
    import contextlib

    if not hasattr(model, "peft_config"):
        return contextlib.nullcontext()
    if adapter is None:
        return model.disable_adapter()  # the base model's own weights
    model.set_adapter(adapter)
    return contextlib.nullcontext()


def _sample(torch, logits, sampling: SamplingOptions, gen) -> int:
    if sampling.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < sampling.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


def _stop_at(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for s in stops if (i := text.find(s)) != -1]
    return min(hits) if hits else None
