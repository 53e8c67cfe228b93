"""Schemathesis hooks for tests/integration/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

They keep the fuzz run cheap on 2 CPU cores without changing the service under test: generation
lengths are clamped to a few tokens (the service's own limits are exercised by the values left
alone: 0, negatives, non-integers and anything past the context length), and translated texts to a
few hundred characters. Every other generated value is sent as is.
"""

from __future__ import annotations

from typing import Any

import schemathesis

MAX_TOKENS = 8
MAX_TEXT = 200


def _cheap(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    for field in ("max_tokens", "max_completion_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and MAX_TOKENS < value < 4096:
            body[field] = MAX_TOKENS
    if isinstance(body.get("text"), str):
        body["text"] = body["text"][:MAX_TEXT]
    if isinstance(body.get("segments"), list):
        body["segments"] = [s[:MAX_TEXT] if isinstance(s, str) else s for s in body["segments"][:8]]
    return body


@schemathesis.hook
def before_call(context, case, kwargs: dict[str, Any]) -> None:
    case.body = _cheap(case.body)
    if "json" in kwargs:
        kwargs["json"] = _cheap(kwargs["json"])
