"""The gate every HTTP request passes before a route runs: Host and Origin (app/api/edge.py), API key,
rate limit, body size and body deadline, time to the answer and the request's whole lifetime; it adds
the security headers to every answer and keeps client request ids that are not plain out of fanyi.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware): it runs the app in the request's own
context, so the caller set here (`rate_limit.current_principal`) is seen where token usage is
reported, and streamed answers pass through untouched. Its settings (`GateSettings`) come from the
app's config (app/api/app.py adds it with them).

Every refusal is an OpenAI-shaped error carrying the request id (also in Serve's `x-request-id`
header) and is counted in `fanyi_rejected_requests_total`; the log line has the details.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from app.api import protocol
from app.api.auth import KeyRing
from app.api.edge import EdgePolicy, header, own_request_id, secured_send
from app.api.error_map import current_request_id
from app.api.rate_limit import RateLimiter, current_principal
from app.errors import FanyiError, RequestTimeout, RequestTooLarge

logger = logging.getLogger("fanyi.gate")

# Open without a key: the readiness probe, the web page's static files and the API schema.
OPEN_PATHS = frozenset({"/health", "/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
OPEN_PREFIXES = ("/static/",)
FILE_ROUTE = "/v1/translate/file"
# Requests that carry no body unless they say so (Content-Length or Transfer-Encoding).
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class BodyTimeout(FanyiError):
    """The body did not arrive within limits.body_read_timeout_s; the connection is closed after the answer."""

    status_code = 408
    error_type = "timeout_error"
    code = "body_timeout"


@dataclass
class GateSettings:
    keys: KeyRing
    limiter: RateLimiter
    metrics: Any  # app.api.metrics.RouterMetrics
    max_request_bytes: int
    max_file_bytes: int
    request_timeout_s: float | None
    protect_metrics: bool = True
    body_read_timeout_s: float | None = None
    max_request_duration_s: float | None = None
    edge: EdgePolicy | None = None  # Host, Origin and response headers; None: no checks, no headers

    @classmethod
    def from_config(cls, config: Any, keys: KeyRing, limiter: RateLimiter, metrics: Any) -> GateSettings:
        """From the app's config (app.config.AppConfig): its limits, auth and security sections."""
        limits = config.limits
        return cls(
            keys=keys,
            limiter=limiter,
            metrics=metrics,
            max_request_bytes=limits.max_request_bytes,
            max_file_bytes=limits.max_file_bytes,
            request_timeout_s=limits.request_timeout_s,
            protect_metrics=config.auth.protect_metrics,
            body_read_timeout_s=limits.body_read_timeout_s,
            max_request_duration_s=limits.max_request_duration_s,
            edge=EdgePolicy(config.security),
        )


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


def _route_path(scope) -> str:
    """The path below the application's route prefix (Serve passes it as root_path)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


@dataclass
class _Answer:
    """What the app has sent so far, for ending a stream cut at the deadline."""

    started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    finished: bool = False
    event_stream: bool = False


class Gate:
    def __init__(self, app, settings: GateSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send) -> None:
        settings = self.settings
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = asyncio.get_running_loop().time()
        path = _route_path(scope)
        rid = own_request_id(scope)
        send = secured_send(settings.edge, path, send)
        try:
            self._check_edge(settings, scope, path, rid)
            who = self._admit(settings, scope, path, rid)
            receive = await self._read_body(settings, scope, receive, path, rid)
        except FanyiError as err:
            response = error_response(err, rid, settings.metrics)
            if isinstance(err, BodyTimeout):
                response.headers["connection"] = "close"  # the rest of the body is not waited for
            await response(scope, receive, send)
            return
        token = current_principal.set(who)
        try:
            deadline = arrived + settings.max_request_duration_s if settings.max_request_duration_s else None
            await self._with_timeout(settings, scope, receive, send, rid, path, deadline)
        finally:
            current_principal.reset(token)

    def _check_edge(self, settings: GateSettings, scope, path: str, rid: str) -> None:
        if settings.edge is None:
            return
        host, origin = header(scope, b"host"), header(scope, b"origin")
        try:
            settings.edge.check_host(host)
            settings.edge.check_origin(scope.get("method", "GET"), host, origin, header(scope, b"sec-fetch-site"))
        except FanyiError as err:
            logger.info(
                "request %s: %s (%s %s, host %.100r, origin %.100r)",
                rid,
                err.code,
                scope.get("method"),
                path,
                host,
                origin,
            )
            raise

    def _admit(self, settings: GateSettings, scope, path: str, rid: str):
        keys = settings.keys
        open_path = (
            path in OPEN_PATHS
            or path.startswith(OPEN_PREFIXES)
            or (path == "/metrics" and not settings.protect_metrics)
        )
        if open_path:
            return None  # not charged to anyone
        try:
            who = keys.check(header(scope, b"authorization"))
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

    async def _read_body(self, settings: GateSettings, scope, receive, path: str, rid: str):
        """Read the whole body before any route runs, within the size limit and limits.body_read_timeout_s,
        and replay it to the app: a client that sends its body slowly, or never finishes it, holds no
        route and no slot past that time. A Content-Length over the limit is refused before reading."""
        limit = settings.max_file_bytes if path == FILE_ROUTE else settings.max_request_bytes
        length = header(scope, b"content-length")
        if length is not None and length.strip().isdigit():
            if int(length) > limit:
                raise RequestTooLarge(f"request body exceeds {limit} bytes")
            if int(length) == 0:
                return receive
        elif scope.get("method") in BODYLESS_METHODS and header(scope, b"transfer-encoding") is None:
            return receive
        messages, size = [], 0
        try:
            async with asyncio.timeout(settings.body_read_timeout_s):
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
        except TimeoutError:
            logger.info(
                "request %s: body incomplete after %gs (%d bytes, content-length %.20r); 408",
                rid,
                settings.body_read_timeout_s,
                size,
                length,
            )
            raise BodyTimeout(f"the request body did not arrive within {settings.body_read_timeout_s:g} s") from None

        async def replay():
            return messages.pop(0) if messages else await receive()

        return replay

    async def _with_timeout(
        self, settings: GateSettings, scope, receive, send, rid: str, path: str, deadline: float | None
    ) -> None:
        """Run the app; if it has not started answering within request_timeout_s, cancel it (which
        aborts the engine requests behind it) and answer 504. Past the request's deadline
        (limits.max_request_duration_s from its arrival) a stream that has started is ended too."""
        loop = asyncio.get_running_loop()
        timeout = settings.request_timeout_s
        if deadline is not None:
            timeout = max(min(timeout or math.inf, deadline - loop.time()), 0.0)
        if timeout is None:
            await self.app(scope, receive, send)
            return
        answer = _Answer()

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                types = [v for k, v in message.get("headers", ()) if bytes(k).lower() == b"content-type"]
                answer.event_stream = bool(types) and bytes(types[0]).startswith(b"text/event-stream")
                answer.started.set()
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answer.finished = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, tracking_send))  # copies the context
        waiter = asyncio.ensure_future(answer.started.wait())
        try:
            done, _ = await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if done and task not in done and deadline is not None:
                done, _ = await asyncio.wait({task}, timeout=max(deadline - loop.time(), 0))
                if not done:
                    await self._end_stream(settings, task, answer, send, rid, path)
                    return
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if not done:
            task.cancel()
            await asyncio.wait({task})
            logger.warning(
                "request %s: no answer within %ss (%s %s); cancelled", rid, f"{timeout:g}", scope.get("method"), path
            )
            err = RequestTimeout(f"the request did not complete within {timeout:g} s")
            await error_response(err, rid, settings.metrics)(scope, receive, send)
            return
        await task

    async def _end_stream(self, settings: GateSettings, task, answer: _Answer, send, rid: str, path: str) -> None:
        """The deadline passed while the answer was being sent: cancel the app (aborting its engine
        requests) and end the answer; a stream of events gets the timeout error as its last event."""
        task.cancel()
        await asyncio.wait({task})
        limit = settings.max_request_duration_s
        logger.warning("request %s: still answering after %gs (%s); cut", rid, limit, path)
        if settings.metrics is not None:
            settings.metrics.observe_rejection(RequestTimeout.code)
        if answer.finished:
            return
        if answer.event_stream:
            body = RequestTimeout(f"the request did not complete within {limit:g} s").to_body()
            body["error"]["request_id"] = rid
            body = protocol.sse(body) + protocol.SSE_DONE
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
