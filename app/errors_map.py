"""Turning any exception seen by the router into a client-safe FanyiError.

Ray wraps what a replica raises; the router unwraps it here. Anything unexpected becomes a generic
InternalError whose message carries only the request id: the details go to the log, never the client.
"""

from __future__ import annotations

import logging

from app.errors import EngineUnavailable, FanyiError, InternalError, Overloaded

logger = logging.getLogger("fanyi.router")


def current_request_id() -> str:
    """The id Ray Serve gave this HTTP request: its proxy returns it as `x-request-id` and its logs
    carry it, so a client's report leads straight to the log lines."""
    try:
        from ray.serve.context import _get_serve_request_context

        return _get_serve_request_context().request_id or "unknown"
    except Exception:
        return "unknown"


def to_client_error(exc: BaseException, request_id: str | None = None) -> FanyiError:
    if isinstance(exc, FanyiError):
        return exc
    cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError keeps the replica's exception here
    if isinstance(cause, FanyiError):
        return cause
    name = type(exc).__name__
    if name == "BackPressureError":  # Serve's max_queued_requests was reached
        return Overloaded("the model's queue is full; retry shortly")
    if name in ("ActorDiedError", "RayActorError", "ActorUnavailableError", "DeploymentUnavailableError"):
        logger.warning("request %s: replica unavailable: %s", request_id, name)
        return EngineUnavailable("the model replica is restarting; retry shortly")
    request_id = request_id or current_request_id()
    logger.error("request %s failed", request_id, exc_info=exc)
    return InternalError(f"internal error (request id {request_id})")
