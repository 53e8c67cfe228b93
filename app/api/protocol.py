"""OpenAI wire models (requests validated with pydantic) and the response builders.

Requests forbid unknown fields, as OpenAI itself does, so a misspelt parameter is a 400 naming it
rather than silently ignored. Responses are built as plain dicts: on the streaming path they are
serialised once per token, and pydantic there would cost more than it checks.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.errors import InvalidRequest
from app.translate.glossary import Terms as GlossaryTerms

# vLLM's own bound on `seed` (vllm/entrypoints/openai/*/protocol.py): a signed 64-bit integer.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# JSON's \udxxx escapes decode to lone surrogates: Python strings, but not text. No tokenizer, log
# file or metrics exporter can encode them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def unencodable(value: Any) -> str | None:
    """Why `value` (a string, or lists and dicts of them) cannot be encoded as UTF-8, saying where
    inside it (`[3]`, `['term']`); None when it can."""
    if isinstance(value, str):
        found = None if value.isascii() else _SURROGATE.search(value)
        if found is None:
            return None
        return (
            f"contains a lone surrogate (U+{ord(found.group()):04X} at character {found.start()}), "
            "which is not valid Unicode text"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unencodable(key)
            if problem is not None:
                return f"a key {problem}"
            problem = unencodable(item)
            if problem is not None:
                return f"[{key[:40]!r}] {problem}"
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = unencodable(item)
            if problem is not None:
                return f"[{index}] {problem}"
    return None  # numbers, and nested request models (they check their own fields)


def check_encodable(param: str, value: Any) -> None:
    """A 400 naming `param` when `value` holds a string that cannot be encoded (form fields)."""
    problem = unencodable(value)
    if problem is not None:
        raise InvalidRequest(f"{param}: {problem}", param=param)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        """Every string of every request: refused here, with the field named, before it can reach a
        tokenizer, a memory key, a log line or a metric label."""
        problem = unencodable(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class TextPart(_Request):
    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


class _Sampling(_Request):
    model: str | None = Field(None, description="Served model id; the first configured model when omitted.")
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = Field(None, validate_default=True)
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)
    n: int = Field(1, description="Only 1 is supported.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = Field(False, description="vLLM extension: generate exactly max_tokens (benchmarks).")
    user: str | None = None
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0, description="Accepted; only 0 is applied.")
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0, description="Accepted; only 0 is applied.")

    @field_validator("n")
    @classmethod
    def _only_one(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only n=1 is supported")
        return v

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        stops = [v] if isinstance(v, str) else (v or [])
        if len(stops) > 8 or any(not s for s in stops):
            raise ValueError("stop takes up to 8 non-empty strings")
        return stops

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1, description="Newer name of max_tokens.")
    logprobs: Literal[False] | None = None

    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] = Field(description="A string, or a list of token ids.")
    max_tokens: int | None = Field(16, ge=1)
    echo: Literal[False] = False
    logprobs: None = None

    @model_validator(mode="after")
    def _one_prompt(self) -> CompletionRequest:
        p = self.prompt
        if isinstance(p, list) and p and isinstance(p[0], str):
            if len(p) != 1:
                raise ValueError("prompt: only one prompt per request is supported")
            self.prompt = p[0]
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt must not be empty")
        return self

    def token_limit(self) -> int | None:
        return self.max_tokens


# -- responses ---------------------------------------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_response(rid: str, model: str, text: str, finish: str | None, use: dict) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": use,
    }


def completion_response(rid: str, model: str, text: str, finish: str | None, use: dict) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        "usage": use,
    }


def chat_chunk(rid: str, model: str, created: int, delta: dict, finish: str | None, use=None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
    if use is not None:
        body["usage"] = use
    return body


def completion_chunk(rid: str, model: str, created: int, text: str | None, finish: str | None, use=None) -> dict:
    choices = [] if text is None else [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]
    body = {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": choices}
    if use is not None:
        body["usage"] = use
    return body


def chat_event(rid, model, created, text, finish, opening=False, use=None) -> dict:
    """One SSE payload of a chat stream: the role opener, a text delta, or the usage tail."""
    if use is not None:
        return chat_chunk(rid, model, created, None, None, use)
    if opening:
        return chat_chunk(rid, model, created, {"role": "assistant", "content": ""}, None)
    return chat_chunk(rid, model, created, {"content": text} if text else {}, finish)


def completion_event(rid, model, created, text, finish, opening=False, use=None) -> dict | None:
    if opening:
        return None  # completions have no role chunk
    if use is not None:
        return completion_chunk(rid, model, created, None, None, use)
    return completion_chunk(rid, model, created, text, finish)


def sse(data: dict | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


SSE_DONE = sse("[DONE]")


def model_card(name: str, created: int, root: str, parent: str | None = None) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "fanyi", "root": root, "parent": parent}


# -- translation ------------------------------------------------------------------------------------

MAX_SEGMENTS = 256


class TranslateRequest(_Request):
    """POST /v1/translate. Exactly one of `text` (a document, split by the service) or `segments`
    (already split; the answer's `translations` are aligned with them)."""

    text: str | None = Field(None, description="A text or document to translate.")
    segments: list[str] | None = Field(None, max_length=MAX_SEGMENTS, description="Pre-split segments.")
    target_lang: str = Field(description="BCP-47 code of the target language (see GET /v1/languages).")
    source_lang: str | None = Field(None, description="Source language; detected when omitted.")
    model: str | None = Field(None, description="Served model or adapter; the first one when omitted.")
    glossary: GlossaryTerms | None = Field(
        None, description="Source term -> required translation (app/translate/glossary.py)."
    )
    format: Literal["plain", "markdown", "html"] = "plain"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    stream: bool = Field(False, description="Server-sent events: ordered `delta` events, then `done`.")

    @model_validator(mode="after")
    def _one_input(self) -> TranslateRequest:
        if (self.text is None) == (self.segments is None):
            raise ValueError("give exactly one of text or segments")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is empty")
        if self.segments is not None and not any(s.strip() for s in self.segments):
            raise ValueError("segments are all empty")
        return self


def translation_result(
    rid: str, model: str, source: str, target: str, whole: str | None, segments: list[dict], use: dict, cached: int
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "translation",
        "created": int(time.time()),
        "model": model,
        "source_lang": source,
        "target_lang": target,
        "text": whole,
        "translations": segments,
        "usage": use,
        "cached": cached,
    }
