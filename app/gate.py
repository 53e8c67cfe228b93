"""The gate every HTTP request passes before a route runs: API key, rate limit, body size, timeout.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware): it runs the app in the request's own
context, so the caller set here (`rate_limit.current_principal`) is seen where token usage is
reported, and streamed answers pass through untouched. Its settings (`GateSettings`) are put on
`app.state.gate` by the Router when it starts; before that the gate lets everything through.

Every refusal is an OpenAI-shaped error carrying the request id (also in Serve's `x-request-id`
header) and is counted in `fanyi_rejected_requests_total`; the log line has the details.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from app.auth import KeyRing
from app.errors import FanyiError, RequestTimeout, RequestTooLarge
from app.errors_map import current_request_id
from app.rate_limit import RateLimiter, current_principal

logger = logging.getLogger("fanyi.gate")

# Open without a key: the readiness probe, the web page's static files and the API schema.
OPEN_PATHS = frozenset({"/health", "/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
OPEN_PREFIXES = ("/static/",)
FILE_ROUTE = "/v1/translate/file"


@dataclass
class GateSettings:
    keys: KeyRing
    limiter: RateLimiter
    metrics: Any  # app.metrics.RouterMetrics
    max_request_bytes: int
    max_file_bytes: int
    request_timeout_s: float | None
    protect_metrics: bool = True

    @classmethod
    def from_config(cls, config: Any, keys: KeyRing, limiter: RateLimiter, metrics: Any) -> "GateSettings":
        """From the app's config (app.config.AppConfig): its limits and auth sections."""
        limits = config.limits
        return cls(keys=keys, limiter=limiter, metrics=metrics, max_request_bytes=limits.max_request_bytes,
                   max_file_bytes=limits.max_file_bytes, request_timeout_s=limits.request_timeout_s,
                   protect_metrics=config.auth.protect_metrics)


def error_response(err: FanyiError, request_id: str | None = None, metrics: Any = None) -> JSONResponse:
    """The one HTTP error answer: OpenAI's body plus `request_id`, Retry-After where it helps."""
    body = err.to_body()
    body["error"]["request_id"] = request_id or current_request_id()
    headers = {}
    if err.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(err.retry_after)))
    if err.status_code == 401:
        headers["www-authenticate"] = 'Bearer realm="fanyi"'
    if metrics is not None:
        metrics.observe_rejection(err.code)
    return JSONResponse(body, status_code=err.status_code, headers=headers)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _route_path(scope) -> str:
    """The path below the application's route prefix (Serve passes it as root_path)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


class Gate:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        app = scope.get("app")
        settings: GateSettings | None = getattr(getattr(app, "state", None), "gate", None)
        if scope["type"] != "http" or settings is None:
            await self.app(scope, receive, send)
            return
        rid = _header(scope, b"x-request-id") or current_request_id()
        path = _route_path(scope)
        try:
            who = self._admit(settings, scope, path, rid)
            receive = await self._bounded_body(settings, scope, receive, path)
        except FanyiError as err:
            await error_response(err, rid, settings.metrics)(scope, receive, send)
            return
        token = current_principal.set(who)
        try:
            await self._with_timeout(settings, scope, receive, send, rid, path)
        finally:
            current_principal.reset(token)

    def _admit(self, settings: GateSettings, scope, path: str, rid: str):
        keys = settings.keys
        open_path = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or (
            path == "/metrics" and not settings.protect_metrics)
        if open_path:
            return None  # not charged to anyone
        try:
            who = keys.check(_header(scope, b"authorization"))
        except FanyiError:
            # Never the key itself: only that one was refused, and where.
            logger.info("request %s: unauthorized %s %s", rid, scope.get("method"), path)
            raise
        try:
            settings.limiter.admit(who)
        except FanyiError:
            logger.info("request %s: rate limited (%s)", rid, who.label)
            raise
        return who

    async def _bounded_body(self, settings: GateSettings, scope, receive, path: str):
        """Refuse a body over the limit before reading it when Content-Length says so; a body without
        one (chunked) is read here up to the limit and replayed to the app."""
        limit = settings.max_file_bytes if path == FILE_ROUTE else settings.max_request_bytes
        length = _header(scope, b"content-length")
        if length is not None:
            if length.strip().isdigit() and int(length) > limit:
                raise RequestTooLarge(f"request body exceeds {limit} bytes")
            return receive
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                raise RequestTooLarge(f"request body exceeds {limit} bytes")
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return replay

    async def _with_timeout(self, settings: GateSettings, scope, receive, send, rid: str, path: str) -> None:
        """Run the app; if it has not started answering within request_timeout_s, cancel it (which
        aborts the engine requests behind it) and answer 504. A stream that has started is never cut."""
        timeout = settings.request_timeout_s
        if not timeout:
            await self.app(scope, receive, send)
            return
        started = asyncio.Event()

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, tracking_send))  # copies the context
        waiter = asyncio.ensure_future(started.wait())
        try:
            done, _ = await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if not done:
            task.cancel()
            await asyncio.wait({task})
            logger.warning("request %s: no answer within %ss (%s %s); cancelled", rid, timeout,
                           scope.get("method"), path)
            err = RequestTimeout(f"the request did not complete within {timeout:g} s")
            await error_response(err, rid, settings.metrics)(scope, receive, send)
            return
        await task
