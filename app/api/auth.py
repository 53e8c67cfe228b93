"""API keys: who may call, checked like OpenAI's `Authorization: Bearer <key>`.

Keys come from `auth.api_keys` and from the environment variable named by `auth.api_keys_env`,
read when the Router starts (`KeyRing.from_config`), never at import. Only SHA-256 digests are
kept; a presented key is hashed and compared with `hmac.compare_digest` against every stored digest
(no early exit), so timing tells nothing about which key nearly matched. Logs and metrics name a
key by its `name` or by a short hash prefix, never by the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from app.config.access import ApiKeyConfig, AuthConfig
from app.errors import Unauthorized


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as far as limits and logs care: a label and its limits."""

    label: str
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


ANONYMOUS = "anonymous"  # every caller, when no key is configured


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_label(key: str) -> str:
    """A name for a key that is safe to log: 8 hex digits of its SHA-256."""
    return "key-" + _digest(key).hex()[:8]


class KeyRing:
    def __init__(
        self, keys: list[ApiKeyConfig], requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ):
        self._entries: list[tuple[bytes, Principal]] = []
        for k in keys:
            principal = Principal(
                k.name or key_label(k.key),
                k.requests_per_minute or requests_per_minute,
                k.tokens_per_minute or tokens_per_minute,
            )
            self._entries.append((_digest(k.key), principal))
        self.anonymous = Principal(ANONYMOUS, requests_per_minute, tokens_per_minute)

    @classmethod
    def from_config(cls, auth: AuthConfig, environ: Mapping[str, str] | None = None) -> KeyRing:
        environ = os.environ if environ is None else environ
        keys = [k if isinstance(k, ApiKeyConfig) else ApiKeyConfig(key=k) for k in auth.api_keys]
        if auth.api_keys_env:
            raw = environ.get(auth.api_keys_env, "")
            keys += [ApiKeyConfig(key=k.strip()) for k in raw.split(",") if k.strip()]
        return cls(keys, auth.requests_per_minute, auth.tokens_per_minute)

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, authorization: str | None) -> Principal:
        """The caller of a request with this Authorization header; raises Unauthorized."""
        if not self.enabled:
            return self.anonymous
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'.")
        presented = _digest(token)
        found = None
        for digest, principal in self._entries:  # all of them, whatever matched first
            if hmac.compare_digest(digest, presented) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("Incorrect API key provided.")
        return found


def forwarded_key_env(auth: AuthConfig, app_runtime_env: Mapping | None) -> dict[str, str]:
    """The `api_keys_env` variable from the application's `runtime_env.env_vars`, to set on the Router.

    Serve gives an application-level runtime_env only to deployments whose own ray_actor_options
    carry none, and the Router's carries env_vars (cluster/placement.py), so a key set there would
    never reach it. `build_app` runs in Serve's build task, under the application's runtime_env, and
    passes this on. Only a variable the operator already put in the application's config is
    forwarded: one that comes from `ray start`'s environment reaches the Router by itself and is not
    copied into deployment options the dashboard shows.
    """
    if not auth.api_keys_env:
        return {}
    value = ((app_runtime_env or {}).get("env_vars") or {}).get(auth.api_keys_env)
    return {auth.api_keys_env: value} if value else {}
