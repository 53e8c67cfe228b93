"""Router: the ingress deployment. OpenAI routes, errors, metrics and health; no heavy state.

It picks the model's replica pool by `model`, forwards a GenerateRequest through a DeploymentHandle
and turns the streamed chunks into OpenAI JSON or SSE. Tokenization and context checks happen in
the replica, which owns the tokenizer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from typing import Any, AsyncIterator, Callable

from pathlib import Path

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.translate import languages
from app.api import protocol
from app.config import AppConfig
from app.api import openapi_docs as docs
from app.api.auth import KeyRing
from app.errors import FanyiError, InternalError, InvalidRequest, ModelNotFound, RequestTooLarge
from app.api.error_map import current_request_id, to_client_error
from app.translate.memory import TranslationMemory
from app.api.gate import FILE_ROUTE, Gate, GateSettings, error_response
from app.api.health import HealthMonitor, serve_statuses
from app.api.metrics import CONTENT_TYPE, RouterMetrics
from app.api.rate_limit import RateLimiter
from app.api.translate_serving import TranslateService
from app.translate.translator import Route, Translator
from app.generation import GenerateChunk, GenerateRequest

logger = logging.getLogger("fanyi.router")

api = FastAPI(
    title="fanyi",
    summary="Self-hosted machine translation over vLLM and Ray Serve, with an OpenAI-compatible API.",
    version="0.1.0",
)
api.add_middleware(Gate)  # keys, rate limits, body size, timeout: app/api/gate.py


def _error_response(err: FanyiError, request: Request) -> JSONResponse:
    """Serve's proxy adds the `x-request-id` header, the id its logs carry too; the body repeats it.
    Metrics come from the app serving the request (`request.app`): `serve.ingress` serves a pickled
    copy of `api`, whose state the Router fills, while this module's `api` is another object."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:  # errors raised before a route ran (validation, unknown model)
        metrics.observe_error("-", err.error_type)
    return error_response(err, metrics=metrics)


def _answer(request: Request, make: Callable[[], FanyiError], counted: bool = True) -> JSONResponse:
    """An exception handler's answer, which cannot fail: whatever goes wrong while shaping or
    logging the error, the client still gets OpenAI's JSON error body (a 500), not plain text."""
    try:
        err = make()
        return _error_response(err, request) if counted else error_response(err)
    except Exception:
        try:
            logger.error("error handler failed", exc_info=True)
        except Exception:
            pass
        body = InternalError("internal error").to_body()
        body["error"]["request_id"] = current_request_id()
        return JSONResponse(body, status_code=500)


_UNION_TAG = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|function-.*)$")


def _validation_error(exc: RequestValidationError) -> InvalidRequest:
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


@api.exception_handler(RequestValidationError)
async def _invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
    return _answer(request, lambda: to_client_error(_validation_error(exc)))  # logs it (INFO, no traceback)


@api.exception_handler(FanyiError)
async def _fanyi_error(request: Request, exc: FanyiError) -> JSONResponse:
    return _answer(request, lambda: to_client_error(exc))


@api.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _answer(request, lambda: to_client_error(exc))


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    def shaped() -> FanyiError:
        err = InvalidRequest(str(exc.detail))
        err.status_code = exc.status_code  # 404, 405: Starlette's own answers, in OpenAI's shape
        err.error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return err

    return _answer(request, shaped, counted=False)  # unknown paths are neither model errors nor rejections


STATIC = Path(__file__).resolve().parent.parent / "app" / "static"
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png",
                ".svg": "image/svg+xml", ".ico": "image/x-icon"}


@serve.ingress(api)
class Router:
    def __init__(self, models: dict[str, Any], config: dict[str, Any], postprocessor: Any):
        self.config = AppConfig.model_validate(config)
        self.handles = models
        # Built once: `.options()` per request costs a handle copy on the latency path.
        self.stream_handles = {name: h.options(stream=True) for name, h in models.items()}
        self.routes = self.config.routes()  # base models and their LoRA adapters, by served name
        self.default_model = self.config.models[0].name
        self.created = int(time.time())
        context = serve.get_replica_context()
        self.app_name = context.app_name
        self.metrics = RouterMetrics(context.replica_id.unique_id, models=self.routes)  # the only model labels
        limits = self.config.limits
        api.state.metrics = self.metrics
        keys, limiter = KeyRing.from_config(self.config.auth), RateLimiter()  # keys read now, never logged
        self.metrics.on_tokens = limiter.charge_current  # usage is charged to the caller's key
        api.state.gate = GateSettings.from_config(self.config, keys, limiter, self.metrics)
        logger.info("access control: %s", f"{len(keys)} API keys" if keys.enabled else "open (no API keys)")
        translator = Translator(TranslationMemory(limits.translation_memory_entries), postprocessor, self.metrics)
        translator.max_pieces = limits.max_segments
        self.translation = TranslateService(translator, self._resolve, self.metrics)
        deployments = {m.name: m.deployment_name for m in self.config.models}
        self.health_monitor = HealthMonitor(functools.partial(serve_statuses, self.app_name, deployments))
        self.health_monitor.start()

    async def __del__(self):
        await self.health_monitor.stop()

    # -- plain routes -------------------------------------------------------------------------------

    @api.get("/health", responses=docs.HEALTH)
    async def health(self) -> JSONResponse:
        """200 while every model has a healthy replica; 503 otherwise, or when Serve's status is older
        than 10 s (a readiness probe). Cached: `age_s` says how old it is, normally under 2 s."""
        snapshot = await self.health_monitor.snapshot()
        return JSONResponse(snapshot.body(), status_code=snapshot.http_status)

    @api.get("/v1/models", responses=docs.MODELS)
    async def list_models(self) -> dict:
        data = [protocol.model_card(name, self.created, adapter.path if adapter else model.source,
                                    model.name if adapter else None)
                for name, (model, adapter) in self.routes.items()]
        return {"object": "list", "data": data}

    @api.get("/metrics", responses=docs.METRICS, response_class=Response)
    async def metrics(self) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    @api.get("/v1/languages", responses=docs.LANGUAGES)
    async def list_languages(self) -> dict:
        return {"object": "list", "data": languages.all_languages()}

    @api.get("/", include_in_schema=False)
    async def index(self) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @api.get("/static/{name}", include_in_schema=False)
    async def static(self, name: str) -> FileResponse:
        path = STATIC / name
        if name not in {p.name for p in STATIC.iterdir()} or path.suffix not in STATIC_TYPES:
            raise StarletteHTTPException(404, "Not Found")
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix])

    # -- translation --------------------------------------------------------------------------------

    @api.post("/v1/translate", responses=docs.TRANSLATE)
    async def translate(self, body: protocol.TranslateRequest) -> Response:
        """Translate a text or a list of segments; JSON, or server-sent events with `stream: true`."""
        return await self.translation.translate(body)

    @api.post(FILE_ROUTE, responses=docs.TRANSLATE_FILE, response_class=Response)
    async def translate_file(
        self,
        file: UploadFile = File(description="A .txt, .md, .srt, .html or .docx file."),
        target_lang: str = Form(),
        source_lang: str | None = Form(None),
        model: str | None = Form(None),
        glossary: str | None = Form(None, description="A JSON object of term -> translation."),
    ) -> Response:
        """Translate an uploaded file; the answer is the same file, translated, structure intact."""
        for param, value in (("target_lang", target_lang), ("source_lang", source_lang), ("model", model),
                             ("glossary", glossary), ("file", file.filename)):
            protocol.check_encodable(param, value)
        limit = self.config.limits.max_file_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise RequestTooLarge(f"file exceeds {limit} bytes", param="file", code="file_too_large")
        return await self.translation.translate_file(
            file.filename or "upload.txt", data, target_lang, source_lang or None, model or None, glossary,
            self.config.limits.max_file_units)

    # -- generation ---------------------------------------------------------------------------------

    @api.post("/v1/chat/completions", responses=docs.CHAT)
    async def chat_completions(self, body: protocol.ChatCompletionRequest) -> Response:
        rid = "chatcmpl-" + uuid.uuid4().hex
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        req = self._request(rid, body, messages=messages)
        return await self._serve("chat", body, req, protocol.chat_response, protocol.chat_event)

    @api.post("/v1/completions", responses=docs.COMPLETIONS)
    async def completions(self, body: protocol.CompletionRequest) -> Response:
        rid = "cmpl-" + uuid.uuid4().hex
        if isinstance(body.prompt, str):
            req = self._request(rid, body, prompt=body.prompt)
        else:
            req = self._request(rid, body, prompt_token_ids=body.prompt)
        return await self._serve("completions", body, req, protocol.completion_response, protocol.completion_event)

    def _request(self, rid: str, body, **prompt) -> GenerateRequest:
        limit = body.token_limit()
        cap = self.config.limits.max_tokens_cap
        if cap is not None and limit is not None and limit > cap:
            raise InvalidRequest(f"max_tokens may be at most {cap}", param="max_tokens", code="max_tokens_exceeded")
        return GenerateRequest(
            request_id=rid, max_tokens=limit if limit is not None else cap, temperature=body.temperature,
            top_p=body.top_p, stop=body.stop or [], seed=body.seed, ignore_eos=body.ignore_eos, **prompt,
        )

    def _resolve(self, name: str | None, pair: tuple[str, str] | None = None) -> Route:
        """A named model or adapter; with no name, the default model, or one of its adapters tuned for
        the translation's language `pair`."""
        if name is None and pair is not None:
            base = self.routes[self.default_model][0]
            name = next((a.name for a in base.adapters if a.covers(*pair)), None)
        name = name or self.default_model
        found = self.routes.get(name)
        if found is None:
            known = ", ".join(sorted(self.routes))
            raise ModelNotFound(f"The model '{name}' does not exist. Available models: {known}", param="model")
        model, adapter = found
        style = (adapter.prompt_style if adapter else None) or model.prompt_style
        return Route(name, self.handles[model.name], style, adapter.name if adapter else None)

    async def _serve(self, endpoint: str, body, req: GenerateRequest, respond: Callable, chunker: Callable):
        started = time.perf_counter()
        model = body.model or self.default_model
        try:
            route = self._resolve(body.model)
            model, handle, req.adapter = route.name, route.handle, route.adapter
            streamer = self.stream_handles[self.routes[model][0].name]
            if not body.stream:
                result: GenerateChunk = await handle.complete.remote(req)
                self.metrics.observe_tokens(model, result.prompt_tokens, result.completion_tokens)
                self.metrics.observe_request(model, endpoint, 200, time.perf_counter() - started)
                use = protocol.usage(result.prompt_tokens, result.completion_tokens)
                payload = respond(req.request_id, model, result.text, result.finish_reason, use)
                return JSONResponse(payload)
            queued = self.metrics.queued(model)
            queued.inc()
            try:
                stream = streamer.generate.remote(req)
                # Wait for the first chunk before answering: errors found by the replica (context
                # length, overload) still become a 4xx/503 instead of an error inside a 200 stream.
                first = await stream.__anext__()
            finally:
                queued.dec()
        except Exception as exc:
            err = to_client_error(exc)
            self.metrics.observe_error(model, err.error_type)
            self.metrics.observe_request(model, endpoint, err.status_code, time.perf_counter() - started)
            return error_response(err, metrics=self.metrics)  # counted as a rejection where it is one
        self.metrics.observe_ttft(model, time.perf_counter() - started)
        events = self._events(endpoint, model, req.request_id, first, stream, body.include_usage(), chunker, started)
        return StreamingResponse(events, media_type="text/event-stream")

    async def _events(
        self, endpoint, model, rid, first: GenerateChunk, stream, include_usage: bool, chunker, started
    ) -> AsyncIterator[bytes]:
        created = int(time.time())
        running = self.metrics.streaming(model)
        running.inc()
        last, status = first, 200
        try:
            opening = chunker(rid, model, created, "", None, opening=True)
            if opening is not None:
                yield protocol.sse(opening)
            chunk: GenerateChunk | None = first
            while chunk is not None:
                last = chunk
                yield protocol.sse(chunker(rid, model, created, chunk.text, chunk.finish_reason))
                chunk = await anext(stream, None)
            if include_usage:
                use = protocol.usage(last.prompt_tokens, last.completion_tokens)
                yield protocol.sse(chunker(rid, model, created, None, None, use=use))
            yield protocol.SSE_DONE
        except asyncio.CancelledError:
            status = 499  # the client went away; cancelling the stream aborts the engine request
            stream.cancel()
            raise
        except Exception as exc:
            err = to_client_error(exc)
            status = err.status_code
            self.metrics.observe_error(model, err.error_type)
            yield protocol.sse(err.to_body())
            yield protocol.SSE_DONE
        finally:
            running.dec()
            self.metrics.observe_tokens(model, last.prompt_tokens, last.completion_tokens)
            self.metrics.observe_request(model, endpoint, status, time.perf_counter() - started)

