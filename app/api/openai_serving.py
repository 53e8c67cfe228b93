"""Serving logic of OpenAI's /v1/chat/completions and /v1/completions (the routes only bind it to URLs).

A request is validated by its wire model (app/api/protocol.py), turned into a GenerateRequest and sent
to the model's replicas through a DeploymentHandle; the answer is OpenAI's JSON, or server-sent
events built from the streamed chunks. Tokenization and context checks happen in the replica, which
owns the tokenizer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.api import protocol
from app.api.error_map import to_client_error
from app.api.gate import error_response
from app.api.metrics import RouterMetrics
from app.api.rate_limit import RateLimiter
from app.api.routing import ModelRoutes
from app.config import LimitsConfig
from app.errors import InvalidRequest
from app.generation import GenerateChunk, GenerateRequest


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI endpoint: its metric label, its id prefix and how its answers are shaped."""

    name: str
    id_prefix: str
    respond: Callable[..., dict]  # the whole answer
    chunk: Callable[..., dict | None]  # one SSE payload


CHAT = Endpoint("chat", "chatcmpl-", protocol.chat_response, protocol.chat_event)
COMPLETIONS = Endpoint("completions", "cmpl-", protocol.completion_response, protocol.completion_event)


class OpenAIServing:
    def __init__(self, routes: ModelRoutes, limits: LimitsConfig, metrics: RouterMetrics, limiter: RateLimiter):
        self.routes = routes
        self.limits = limits
        self.metrics = metrics
        self.limiter = limiter

    async def chat(self, body: protocol.ChatCompletionRequest) -> Response:
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        return await self._serve(CHAT, body, messages=messages)

    async def completions(self, body: protocol.CompletionRequest) -> Response:
        prompt = {"prompt": body.prompt} if isinstance(body.prompt, str) else {"prompt_token_ids": body.prompt}
        return await self._serve(COMPLETIONS, body, **prompt)

    def _request(self, endpoint: Endpoint, body, **prompt) -> GenerateRequest:
        limit = body.token_limit()
        cap = self.limits.max_tokens_cap
        if cap is not None and limit is not None and limit > cap:
            raise InvalidRequest(f"max_tokens may be at most {cap}", param="max_tokens", code="max_tokens_exceeded")
        return GenerateRequest(
            request_id=endpoint.id_prefix + uuid.uuid4().hex,
            max_tokens=limit if limit is not None else cap,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=body.stop or [],
            seed=body.seed,
            ignore_eos=body.ignore_eos,
            **prompt,
        )

    def _record_usage(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.metrics.observe_tokens(model, prompt_tokens, completion_tokens)
        self.limiter.charge_current(prompt_tokens + completion_tokens)  # the caller's tokens per minute

    async def _serve(self, endpoint: Endpoint, body, **prompt) -> Response:
        started = time.perf_counter()
        model = body.model or self.routes.default
        req = self._request(endpoint, body, **prompt)
        try:
            route = self.routes.resolve(body.model)
            model, req.adapter = route.name, route.adapter
            if not body.stream:
                result: GenerateChunk = await route.handle.complete.remote(req)
                self._record_usage(model, result.prompt_tokens, result.completion_tokens)
                self.metrics.observe_request(model, endpoint.name, 200, time.perf_counter() - started)
                use = protocol.usage(result.prompt_tokens, result.completion_tokens)
                return JSONResponse(endpoint.respond(req.request_id, model, result.text, result.finish_reason, use))
            queued = self.metrics.queued(model)
            queued.inc()
            try:
                stream = self.routes.stream_handle(route).generate.remote(req)
                # Wait for the first chunk before answering: errors found by the replica (context
                # length, overload) still become a 4xx/503 instead of an error inside a 200 stream.
                first = await stream.__anext__()
            finally:
                queued.dec()
        except Exception as exc:
            err = to_client_error(exc)
            self.metrics.observe_error(model, err.error_type)
            self.metrics.observe_request(model, endpoint.name, err.status_code, time.perf_counter() - started)
            return error_response(err, metrics=self.metrics)  # counted as a rejection where it is one
        self.metrics.observe_ttft(model, time.perf_counter() - started)
        events = self._events(endpoint, model, req.request_id, first, stream, body.include_usage(), started)
        return StreamingResponse(events, media_type="text/event-stream")

    async def _events(
        self,
        endpoint: Endpoint,
        model: str,
        rid: str,
        first: GenerateChunk,
        stream: Any,
        include_usage: bool,
        started: float,
    ) -> AsyncIterator[bytes]:
        created = int(time.time())
        chunk_of = endpoint.chunk
        running = self.metrics.streaming(model)
        running.inc()
        last, status = first, 200
        try:
            opening = chunk_of(rid, model, created, "", None, opening=True)
            if opening is not None:
                yield protocol.sse(opening)
            chunk: GenerateChunk | None = first
            while chunk is not None:
                last = chunk
                yield protocol.sse(chunk_of(rid, model, created, chunk.text, chunk.finish_reason))
                chunk = await anext(stream, None)
            if include_usage:
                use = protocol.usage(last.prompt_tokens, last.completion_tokens)
                yield protocol.sse(chunk_of(rid, model, created, None, None, use=use))
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
            self._record_usage(model, last.prompt_tokens, last.completion_tokens)
            self.metrics.observe_request(model, endpoint.name, status, time.perf_counter() - started)
