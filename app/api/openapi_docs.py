"""What each route answers, for the OpenAPI schema (`GET /openapi.json`): success bodies, SSE
streams and the OpenAI-shaped errors, so generated clients and the schemathesis fuzz run
(tests/integration/test_fuzz.py) check the real answers against it.

The routes build their answers as plain dicts on the hot path (app/api/protocol.py); these models only
describe them. Keep the two in step: the fuzz test fails on any answer that does not match.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.files import SUPPORTED


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    request_id: str | None = Field(None, description="Also in the x-request-id header and the service's log.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMessageOut(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str
    parent: str | None = None


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class Language(BaseModel):
    code: str
    name: str


class LanguageList(BaseModel):
    object: Literal["list"]
    data: list[Language]


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="unavailable: no fresh status from Serve (for 10 s), or none yet."
    )
    models: dict[str, str] = Field(description="Serve's deployment status per model.")
    age_s: float | None = Field(
        description="Seconds since Serve was asked: refreshed every second in the background, so normally under 2."
    )


class TranslatedSegment(BaseModel):
    text: str
    flags: list[str]


class Translation(BaseModel):
    id: str
    object: Literal["translation"]
    created: int
    model: str
    source_lang: str
    target_lang: str
    text: str | None = Field(description="The whole translation when `text` was sent; null for `segments`.")
    translations: list[TranslatedSegment]
    usage: Usage
    cached: int = Field(description="Segments served from the translation memory.")


# One server-sent event, as parsed: `data` is a JSON chunk, an error body, or `[DONE]` at the end.
_SSE = {
    "text/event-stream": {
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
            "description": "Server-sent events, ending with `data: [DONE]`.",
        }
    }
}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_COMMON = {
    401: _error("Missing or wrong API key (when keys are configured)."),
    429: _error("The key's requests or tokens per minute are used up; see Retry-After."),
    500: _error("Unexpected failure; the body carries only the request id."),
    504: _error("No answer within limits.request_timeout_s."),
    "default": _error("Any other error, in the same shape."),
}
_BODY = {
    400: _error("Invalid request: the message and `param` name the field."),
    413: _error("Request body over limits.max_request_bytes (uploads: limits.max_file_bytes)."),
}
_MODEL = {
    404: _error("Unknown model."),
    503: _error("The model's queue is full or its replica is restarting; see Retry-After."),
}


def _json(model: type[BaseModel], streamed: bool = False, description: str = "Success.") -> dict[str, Any]:
    ok: dict[str, Any] = {"model": model, "description": description}
    if streamed:
        ok["content"] = _SSE
    return ok


HEALTH = {
    200: _json(Health, description="Every model has a healthy replica."),
    503: {"model": Health, "description": "Some model has no healthy replica, or Serve's status is unknown."},
    **{k: v for k, v in _COMMON.items() if k not in (401, 429)},
}  # open without a key
MODELS = {200: _json(ModelList), **_COMMON}
LANGUAGES = {200: _json(LanguageList), **_COMMON}
METRICS = {200: {"content": _TEXT, "description": "Prometheus text format."}, **_COMMON}
CHAT = {
    200: _json(ChatCompletion, streamed=True, description="JSON, or SSE chunks with `stream: true`."),
    **_BODY,
    **_MODEL,
    **_COMMON,
}
COMPLETIONS = {
    200: _json(Completion, streamed=True, description="JSON, or SSE chunks with `stream: true`."),
    **_BODY,
    **_MODEL,
    **_COMMON,
}
TRANSLATE = {
    200: _json(Translation, streamed=True, description="JSON, or SSE events with `stream: true`."),
    **_BODY,
    **_MODEL,
    **_COMMON,
}
TRANSLATE_FILE = {
    200: {
        "description": "The translated file, same format and structure.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in sorted(set(SUPPORTED.values()))
        },
    },
    **_BODY,
    **_MODEL,
    **_COMMON,
}
