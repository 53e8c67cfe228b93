"""Pydantic models of access control: API keys and per-key rate limits (`args.auth`), and which hosts,
origins and response headers the HTTP edge allows and adds (`args.security`, applied in app/api/gate.py).

Like every config model these only describe settings: keys named by `api_keys_env` are read when the Router starts
(app/api/auth.py), never at import, and a key never appears in a log line or an error message.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from app.config.base import Strict


class ApiKeyConfig(Strict):
    """One key with its own name (shown in logs and metrics instead of the key) and limits."""

    key: str = Field(min_length=8, repr=False, description="The secret clients send as `Bearer <key>`.")
    name: str | None = Field(None, max_length=64, description="Label for logs and metrics; a hash prefix if unset.")
    requests_per_minute: float | None = Field(None, gt=0, description="Overrides auth.requests_per_minute.")
    tokens_per_minute: float | None = Field(None, gt=0, description="Overrides auth.tokens_per_minute.")


class AuthConfig(Strict):
    """Access control. With no key configured (here or in the environment) the API is open; with
    any, every route but /health, the web page and the API schema needs `Authorization: Bearer`."""

    api_keys: list[str | ApiKeyConfig] = Field(
        default_factory=list,
        repr=False,
        description="Accepted keys. Prefer api_keys_env: Serve shows `args` to anyone with dashboard access.",
    )
    api_keys_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of an environment variable of the router's process holding comma-separated keys; "
        "read when the Router starts.",
    )
    protect_metrics: bool = Field(True, description="GET /metrics needs a key too (when keys are configured).")
    requests_per_minute: float | None = Field(
        None,
        gt=0,
        description="Requests one key may start per minute (token bucket, burst = one minute's worth).",
    )
    tokens_per_minute: float | None = Field(
        None,
        gt=0,
        description="Prompt + generated tokens one key may use per minute; charged from usage after "
        "each request, a request is admitted while the key's bucket is not empty.",
    )


# What the web page at / really uses: its own script, stylesheet and API, `data:` for its empty favicon
# and `blob:` for the translated file it offers for download (reading it back is a fetch of that blob:
# URL, which only ever names the page's own data). No inline code, no other origin, no frames.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' blob:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc load Swagger UI and ReDoc from jsDelivr and start them with inline scripts.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src 'self' blob:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DEFAULT_HEADERS = {
    "content-security-policy": PAGE_CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*)$")
_ORIGIN = re.compile(r"^https?://[^/?#@\s]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class SecurityConfig(Strict):
    """The HTTP edge: which Host a request may name, which pages may post to the API, and the headers
    every answer carries. The defaults keep `make serve` (127.0.0.1:8000), clusters reached by node
    address and HAProxy in front working; a deployment reached by a DNS name lists it in allowed_hosts."""

    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost"],
        description="Host names a request's Host header may carry (port ignored), besides IP addresses when "
        "allow_ip_hosts is on. `*.example.com` matches its subdomains, `*` any host (turns the check off). "
        "Anything else gets 421: a DNS-rebinding page reaches the service under the attacker's name.",
    )
    allow_ip_hosts: bool = Field(
        True,
        description="Accept any IP address as Host: DNS rebinding needs a host name, and clients reaching "
        "a node by its address (probes, HAProxy health checks, the GPU scripts) keep working.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (`https://app.example.com`) whose pages may send state-changing requests (POST...) "
        "besides the service's own. Other browser pages are refused with 403 (cross-site form posts); clients "
        "that send no Origin nor Sec-Fetch-Site (SDKs, curl) are not affected.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Response headers added to every answer on top of the defaults (CSP, nosniff, "
        "X-Frame-Options: DENY, Referrer-Policy: no-referrer), e.g. Strict-Transport-Security behind TLS; a "
        "name given an empty value drops that default.",
    )
    docs_content_security_policy: str = Field(
        DOCS_CSP,
        description="The CSP of the API's own docs pages (/docs, /redoc), which load their scripts "
        "from jsDelivr; empty: the page's CSP applies there too.",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        out = [str(ipaddress.ip_address(h.strip("[]"))) if _is_ip(h) else h for h in (h.strip().lower() for h in hosts)]
        bad = [h for h in out if not (_HOST.match(h) or _is_ip(h))]
        if bad:
            raise ValueError(f"not a host name, `*.domain`, `*` or IP address: {bad}")
        return out

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        out = [o.strip().lower().rstrip("/") for o in origins]
        bad = [o for o in out if not _ORIGIN.match(o)]
        if bad:
            raise ValueError(f"an origin is scheme://host[:port] with scheme http or https: {bad}")
        return out

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        out = {name.strip().lower(): value for name, value in headers.items()}
        bad = [n for n, v in out.items() if not _HEADER_NAME.match(n) or "\r" in v or "\n" in v]
        if bad:
            raise ValueError(f"invalid header names or values: {bad}")
        return out

    def response_headers(self) -> dict[str, str]:
        """The defaults with `headers` applied: what every answer gets unless its route set the header."""
        merged = {**DEFAULT_HEADERS, **self.headers}
        return {name: value for name, value in merged.items() if value}
