"""Turning any exception seen by the router into a client-safe FanyiError, and logging it once.

Ray wraps what a replica raises; the router unwraps it here. Anything unexpected becomes a generic
InternalError whose message carries only the request id: the details go to the log, never the client.
Client errors (4xx) are routine: one INFO line, no traceback. Only 5xx are logged at ERROR.
"""

from __future__ import annotations

import logging

from app.errors import EngineUnavailable, FanyiError, InternalError, Overloaded, safe_text

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
        err = exc
    elif isinstance(getattr(exc, "cause", None), FanyiError):  # ray.exceptions.RayTaskError keeps it here
        err = exc.cause
    else:
        return _unexpected(exc, request_id)
    log_client_error(err, request_id)
    return err


def log_client_error(err: FanyiError, request_id: str | None = None) -> None:
    """One line per answered error; its message is already bounded and encodable (FanyiError)."""
    if isinstance(err, InternalError):
        return  # logged with its cause where it was made
    level = logging.INFO if err.status_code < 500 else logging.WARNING  # overload, timeout, restarts
    _log(
        level,
        "request %s: %d %s: %s",
        request_id or current_request_id(),
        err.status_code,
        err.code or err.error_type,
        err.message,
    )


def _unexpected(exc: BaseException, request_id: str | None) -> FanyiError:
    from ray.exceptions import RayActorError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

    if isinstance(exc, BackPressureError):  # Serve's max_queued_requests was reached
        err = Overloaded("the model's queue is full; retry shortly")
        log_client_error(err, request_id)
        return err
    if isinstance(exc, (RayActorError, DeploymentUnavailableError)):  # ActorDiedError, ActorUnavailableError too
        _log(logging.WARNING, "request %s: replica unavailable: %s", request_id, type(exc).__name__)
        return EngineUnavailable("the model replica is restarting; retry shortly")
    request_id = request_id or current_request_id()
    _log(logging.ERROR, "request %s failed", request_id, exc_info=exc)
    return InternalError(f"internal error (request id {request_id})")


def _log(level: int, msg: str, *args, exc_info: BaseException | None = None) -> None:
    """Logging must never turn an error answer into a crash: a handler, filter or formatter that
    raises on odd text (an exception quoting a client's lone surrogate) gets a plain line instead."""
    try:
        logger.log(level, msg, *args, exc_info=exc_info)
    except Exception:
        try:
            shown = safe_text(repr(exc_info)) if exc_info is not None else ""
            logger.log(level, "%s %s", safe_text(msg % args), shown)
        except Exception:
            pass


class ClientErrorsAtInfo(logging.Filter):
    """Serve logs every exception a replica raises as "Request failed." at ERROR with its traceback,
    a context-length 400 too. On Serve's logger, this filter turns the client errors (FanyiError
    under 500) into one INFO line without traceback; everything else passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, FanyiError) and exc.status_code < 500 and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = (
                "%s (client error %d %s: %s)",
                (record.getMessage(), exc.status_code, exc.code or exc.error_type, exc.message),
            )
            record.exc_info, record.exc_text = None, None
        return True

    @classmethod
    def install(cls, logger_name: str = "ray.serve") -> None:
        target = logging.getLogger(logger_name)
        if not any(isinstance(f, cls) for f in target.filters):
            target.addFilter(cls())
