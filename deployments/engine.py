"""The engine interface every inference backend implements, and the plain data it exchanges.

Nothing here imports vLLM or torch, so the router, the tests and the CLIs can use these types on a
machine without either. A replica holds exactly one engine; the engine class is injected into the
replica by the builder, which is how tests and the transformers-vs-vLLM comparison swap it.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import ModelConfig


@dataclass(frozen=True)
class SamplingOptions:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False
    # Nobody reads the tokens as they come (a non-streamed reply, the batch job): the engine may hand
    # back the whole answer once, sparing a Python step per token per request.
    final_only: bool = False


@dataclass(frozen=True)
class EngineOutput:
    """One step of a generation: the text and token count added since the previous step."""

    text: str
    num_new_tokens: int
    finish_reason: str | None = None  # "stop" | "length" | "abort" once finished


@dataclass
class EngineStats:
    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0  # fraction of KV-cache blocks in use, 0..1
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    """One model instance. Implementations must be safe to drive from a single asyncio loop."""

    def __init__(self, config: ModelConfig):
        self.config = config

    @abc.abstractmethod
    async def start(self) -> None:
        """Load the model. Raises on failure; the replica then fails to start and Serve retries."""

    @property
    @abc.abstractmethod
    def tokenizer(self) -> Any:
        """A Hugging Face tokenizer (encode, decode, apply_chat_template)."""

    @property
    @abc.abstractmethod
    def max_model_len(self) -> int:
        """Prompt plus output tokens the engine accepts for one request."""

    @abc.abstractmethod
    def generate(
        self, request_id: str, prompt_token_ids: list[int], sampling: SamplingOptions, adapter: str | None = None
    ) -> AsyncIterator[EngineOutput]:
        """Stream the generation, through the LoRA adapter of that name (one of `config.adapters`) if
        given. Closing the iterator early must abort the request in the engine."""

    @abc.abstractmethod
    async def check_health(self) -> None:
        """Raise if the engine can no longer serve (its process died, its loop errored)."""

    @abc.abstractmethod
    async def stats(self) -> EngineStats:
        """Live load of this engine."""

    async def shutdown(self) -> None:  # noqa: B027 (optional: engines with nothing to release skip it)
        """Release the model; the default does nothing."""


def adapter_rank(path: str) -> int:
    """The LoRA rank an adapter folder was trained with (PEFT's adapter_config.json)."""
    import json
    from pathlib import Path

    config = json.loads((Path(path) / "adapter_config.json").read_text())
    ranks = [int(config.get("r", 8)), *(int(r) for r in (config.get("rank_pattern") or {}).values())]
    return max(ranks)
