"""The HTTP edge's policy: which Host and Origin a request may carry, which request id fanyi uses for
it and which headers every answer gets, from the request's headers and the app's `security`
settings. The gate (app/api/gate.py) applies it before any route runs.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
import uuid

from app.api.error_map import current_request_id
from app.config.access import SecurityConfig
from app.errors import FanyiError

logger = logging.getLogger("fanyi.gate")

# Methods a cross-site page may make a browser send without changing anything (RFC 9110 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# Serve's own ids are UUIDs; W3C trace ids, ULIDs and the like fit too. Anything else (markup, 6 KB)
# stays out of fanyi's logs and answers.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Sec-Fetch-Site values with which the browser itself vouches that no other site made the request.
_BROWSER_OWN = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = (":80", ":443")


class HostNotAllowed(FanyiError):
    """421 Misdirected Request (RFC 9110 15.5.20): this service does not answer for that name. A
    DNS-rebinding page reaches the service under the attacker's host name, so names are listed."""

    status_code = 421
    error_type = "invalid_request_error"
    code = "host_not_allowed"


class CrossSiteRequest(FanyiError):
    """403: a page of another site made the browser send a state-changing request (a form post)."""

    status_code = 403
    error_type = "permission_error"
    code = "cross_site_request"


def host_name(authority: str) -> str | None:
    """The host of a Host header or an origin's authority: lowercase, no port, no IPv6 brackets, no
    trailing dot. None when it is not one."""
    text = authority.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host if not rest or (rest[:1] == ":" and rest[1:].isdigit()) else None
    host, colon, port = text.partition(":")
    if colon and not port.isdigit():
        return None
    return host.rstrip(".") or None


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def clean_request_id(value: str | None) -> str | None:
    """The id itself when it is short and plain, None otherwise."""
    return value if value is not None and _REQUEST_ID.fullmatch(value) else None


def header(scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lowercase), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def own_request_id(scope) -> str:
    """Serve takes a client's x-request-id as its id for the request. One that is not 1-128 plain
    characters is replaced here, in the scope's headers and in Serve's request context, so fanyi's logs
    and answers and the replica's Serve log lines carry a new one (Serve's proxy has logged the
    client's value already and echoes it: docs/operations.md)."""
    sent = header(scope, b"x-request-id")
    if sent is None:
        return current_request_id()
    if clean_request_id(sent) is not None:
        return sent
    rid = str(uuid.uuid4())
    scope["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"x-request-id"]
    scope["headers"].append((b"x-request-id", rid.encode()))
    try:
        # Private, like errors_map.current_request_id: Serve offers no public setter.
        from ray.serve import context as serve_context

        current = serve_context._serve_request_context.get()
        if current is not None:
            serve_context._serve_request_context.set(dataclasses.replace(current, request_id=rid))
    except (ImportError, AttributeError, TypeError):
        pass
    logger.info(
        "request %s: client's x-request-id replaced (%d characters, not 1-128 of A-Za-z0-9._:-)", rid, len(sent)
    )
    return rid


def secured_send(policy: EdgePolicy | None, path: str, send):
    """`send` adding the policy's headers to the answer's start, where the route did not set them."""
    extra = policy.response_headers(path) if policy is not None else []
    if not extra:
        return send

    async def send_secured(message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {bytes(k).lower() for k, _ in headers}
            message["headers"] = headers + [(k, v) for k, v in extra if k not in present]
        await send(message)

    return send_secured


def _authority(value: str) -> str:
    """host[:port] without a default port, for comparing an Origin with a Host header."""
    value = value.strip().lower().rstrip(".")
    for port in _DEFAULT_PORTS:
        if value.endswith(port):
            return value[: -len(port)]
    return value


class EdgePolicy:
    """`SecurityConfig` turned into the checks the gate runs on every request."""

    def __init__(self, config: SecurityConfig):
        hosts = set(config.allowed_hosts)
        self.any_host = "*" in hosts
        self.allow_ip_hosts = config.allow_ip_hosts
        self.host_names = {h for h in hosts if not h.startswith("*")}
        self.host_suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))  # "*.a.org" -> ".a.org"
        self.origins = frozenset(config.allowed_origins)
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in config.response_headers().items()]
        docs_csp = config.docs_content_security_policy
        self.docs_headers = [
            (k, docs_csp.encode("latin-1") if k == b"content-security-policy" and docs_csp else v)
            for k, v in self.headers
        ]

    def check_host(self, host_header: str | None) -> None:
        """Raise HostNotAllowed unless the Host header names this service. A request without one (HTTP/1.0,
        some health checkers) passes: browsers always send it."""
        if host_header is None or self.any_host:
            return
        host = host_name(host_header)
        if host is not None and (
            (self.allow_ip_hosts and is_ip(host)) or host in self.host_names or host.endswith(self.host_suffixes)
        ):
            return
        raise HostNotAllowed(
            "the Host header names no host this service answers for; see security.allowed_hosts", param="host"
        )

    def check_origin(self, method: str, host_header: str | None, origin: str | None, fetch_site: str | None) -> None:
        """Raise CrossSiteRequest when a browser sends a state-changing request for a page of another
        origin. Clients that are not browsers send neither Origin nor Sec-Fetch-Site and pass."""
        if method.upper() in SAFE_METHODS or (fetch_site or "").lower() in _BROWSER_OWN:
            return
        if origin is not None:
            origin = origin.strip().lower().rstrip("/")
            if origin in self.origins:
                return
            scheme, sep, rest = origin.partition("://")
            if (
                sep
                and scheme in ("http", "https")
                and host_header is not None
                and _authority(rest) == _authority(host_header)
            ):
                return  # the page's own origin: a browser without Sec-Fetch-Site, or a proxy in between
        elif fetch_site is None:
            return
        raise CrossSiteRequest("cross-site requests are refused; see security.allowed_origins", param="origin")

    def response_headers(self, path: str) -> list[tuple[bytes, bytes]]:
        return self.docs_headers if path in DOCS_PATHS else self.headers
