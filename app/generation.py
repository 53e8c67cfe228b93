"""What the router and the translator send a model replica, and what comes back.

Plain dataclasses, so every layer can build them: the API (app/api), the translation path
(app/translate), the batch job and the replica itself (deployments/llm_replica.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenerateRequest:
    """What the router sends a replica: either chat messages or a completion prompt."""

    request_id: str
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    prompt_token_ids: list[int] | None = None
    max_tokens: int | None = None  # None: whatever context is left after the prompt
    clamp_max_tokens: bool = False  # True: lower max_tokens to fit the context instead of failing
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    ignore_eos: bool = False
    adapter: str | None = None  # a LoRA adapter of this model, by its served name


@dataclass
class GenerateChunk:
    """One streamed step. Token counts are cumulative so the last chunk carries the usage."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
