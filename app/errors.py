"""Typed errors raised anywhere in fanyi, turned into OpenAI-shaped bodies in one place (the router).

Every error carries the HTTP status and the OpenAI `type`/`code`/`param` it maps to, so the code that
knows what went wrong decides how it is reported, and the router never guesses from exception text.
The classes are picklable with plain arguments because they cross Ray actor boundaries: a replica
raises, Ray re-raises the same class in the router.
"""

from __future__ import annotations

# Error messages quote client input (a model name, a language code): bounded, so a 15 KB field is
# not sent back, and written into every log line, whole.
MAX_MESSAGE_CHARS = 1024
MAX_PARAM_CHARS = 256


def safe_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` as it may go into a response or a log: at most `limit` characters (an ellipsis marks a
    cut), lone surrogates written as `\\udxxx` escapes, so that encoding it as UTF-8 cannot fail."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        if len(text) > limit:  # the escapes made it longer
            text = text[: limit - 1] + "…"
    return text


class FanyiError(Exception):
    """Base class: a client-visible error with a safe message (bounded, always encodable)."""

    status_code = 500
    error_type = "internal_error"
    code: str | None = None
    retry_after: float | None = None  # seconds, sent as Retry-After when set

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        message = safe_text(str(message))
        super().__init__(message)
        self.message = message
        # A param can be a client's key too (an unknown field's name, a glossary term).
        self.param = safe_text(str(param), MAX_PARAM_CHARS) if param is not None else None
        if code is not None:
            self.code = code

    def __reduce__(self):  # keep pickling independent of subclass __init__ signatures
        return (_rebuild, (type(self), self.message, self.param, self.code))

    def to_body(self) -> dict:
        return error_body(self.message, self.error_type, self.param, self.code)


def _rebuild(cls, message, param, code):
    return cls(message, param=param, code=code)


def error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict:
    """The one error shape of the API, as OpenAI sends it."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


class InvalidRequest(FanyiError):
    status_code = 400
    error_type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class ModelNotFound(FanyiError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"


class Overloaded(FanyiError):
    """The model's queue is full; the client should retry later."""

    status_code = 503
    error_type = "overloaded_error"
    code = "overloaded"
    retry_after = 1.0


class Unauthorized(FanyiError):
    """No key, or not one of the configured keys. The message never repeats what was sent."""

    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class RateLimited(FanyiError):
    """The key used up its requests or tokens per minute. Raised in the router only (never pickled),
    so the retry delay can live on the instance."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float = 1.0, param: str | None = None, code: str | None = None):
        super().__init__(message, param=param, code=code)
        self.retry_after = retry_after


class RequestTooLarge(FanyiError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class RequestTimeout(FanyiError):
    """The answer did not start within limits.request_timeout_s; the work was cancelled."""

    status_code = 504
    error_type = "timeout_error"
    code = "timeout"


class EngineUnavailable(FanyiError):
    """The engine died or is restarting; Ray Serve replaces the replica."""

    status_code = 503
    error_type = "service_unavailable_error"
    code = "engine_unavailable"


class InternalError(FanyiError):
    """Anything unexpected: the message is generic, the details go to the log only."""

    status_code = 500
    error_type = "internal_error"
    code = "internal_error"
