"""The FastAPI exception handlers: every error a route raises, or a body that fails validation, becomes
OpenAI's JSON error body, and the handlers themselves cannot fail."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.error_map import current_request_id, to_client_error
from app.api.gate import error_response
from app.api.metrics import RouterMetrics
from app.errors import FanyiError, InternalError, InvalidRequest

logger = logging.getLogger("fanyi.router")

_UNION_TAG = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|function-.*)$")


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    """The most specific of pydantic's errors (the deepest; a union reports every branch it tried),
    with the branch names dropped from its location: `messages.0.content.0.text`, not
    `body.messages.0.content.list[TextPart].0.text`."""
    errors = exc.errors() or [{"loc": (), "msg": "invalid request body"}]
    first = max(errors, key=lambda e: len(e.get("loc", ())))  # max keeps the first of equals
    loc = [str(p) for p in first.get("loc", ()) if p != "body" and not _UNION_TAG.match(str(p))]
    param = ".".join(loc) or None
    msg = str(first.get("msg", "invalid request body")).removeprefix("Value error, ")
    # The wire bound on `segments` is a segment limit like limits.max_segments: same code, same counter.
    code = "too_many_segments" if param == "segments" and first.get("type") == "too_long" else None
    return InvalidRequest(f"{param}: {msg}" if param else msg, param=param, code=code)


def install_error_handlers(app: FastAPI, metrics: RouterMetrics) -> None:
    """Errors raised before or in a route are counted in `metrics` (model "-": none is known yet)."""

    def answer(make: Callable[[], FanyiError], counted: bool = True) -> JSONResponse:
        """An exception handler's answer, which cannot fail: whatever goes wrong while shaping or
        logging the error, the client still gets OpenAI's JSON error body (a 500), not plain text."""
        try:
            err = make()
            if not counted:
                return error_response(err)
            metrics.observe_error("-", err.error_type)
            return error_response(err, metrics=metrics)
        except Exception:
            try:
                logger.error("error handler failed", exc_info=True)
            except Exception:
                pass
            body = InternalError("internal error").to_body()
            body["error"]["request_id"] = current_request_id()
            return JSONResponse(body, status_code=500)

    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return answer(lambda: to_client_error(validation_error(exc)))  # logs it (INFO, no traceback)

    async def fanyi_error(request: Request, exc: FanyiError) -> JSONResponse:
        return answer(lambda: to_client_error(exc))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return answer(lambda: to_client_error(exc))

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        def shaped() -> FanyiError:
            err = InvalidRequest(str(exc.detail))
            err.status_code = exc.status_code  # 404, 405: Starlette's own answers, in OpenAI's shape
            err.error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
            return err

        return answer(shaped, counted=False)  # unknown paths are neither model errors nor rejections

    app.add_exception_handler(RequestValidationError, invalid_body)
    app.add_exception_handler(FanyiError, fanyi_error)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(StarletteHTTPException, http_error)
