"""Pydantic models of access control: API keys and per-key rate limits (`args.auth`).

Kept apart from app/config.py so that file stays about models and placement. Like every config
model these only describe settings: keys named by `api_keys_env` are read when the Router starts
(app/auth.py), never at import, and a key never appears in a log line or an error message.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKeyConfig(_Strict):
    """One key with its own name (shown in logs and metrics instead of the key) and limits."""

    key: str = Field(min_length=8, repr=False, description="The secret clients send as `Bearer <key>`.")
    name: str | None = Field(None, max_length=64, description="Label for logs and metrics; a hash prefix if unset.")
    requests_per_minute: float | None = Field(None, gt=0, description="Overrides auth.requests_per_minute.")
    tokens_per_minute: float | None = Field(None, gt=0, description="Overrides auth.tokens_per_minute.")


class AuthConfig(_Strict):
    """Access control. With no key configured (here or in the environment) the API is open; with
    any, every route but /health, the web page and the API schema needs `Authorization: Bearer`."""

    api_keys: list[str | ApiKeyConfig] = Field(
        default_factory=list, repr=False,
        description="Accepted keys. Prefer api_keys_env: Serve shows `args` to anyone with dashboard access.",
    )
    api_keys_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of an environment variable of the router's process holding comma-separated keys; "
        "read when the Router starts.",
    )
    protect_metrics: bool = Field(True, description="GET /metrics needs a key too (when keys are configured).")
    requests_per_minute: float | None = Field(
        None, gt=0, description="Requests one key may start per minute (token bucket, burst = one minute's worth).",
    )
    tokens_per_minute: float | None = Field(
        None, gt=0, description="Prompt + generated tokens one key may use per minute; charged from usage after "
        "each request, a request is admitted while the key's bucket is not empty.",
    )
