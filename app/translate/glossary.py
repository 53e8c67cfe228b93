"""Glossary rules, the same on every route: /v1/translate's `glossary` field (`Terms`, a pydantic
type) and the file route's JSON form field (`parse`).

A glossary goes into the prompt of every piece of a request and is checked against every output, so
its size is bounded. Its terms are one line of plain text each: a placeholder-shaped term (⟦0⟧) would
be taken for a placeholder that masks a URL or code, a line break would write extra turns into a
few-shot prompt, and a string UTF-8 cannot encode (a lone surrogate) has no business in a prompt.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator

from app.errors import InvalidRequest
from app.translate import masking

MAX_ENTRIES = 200
MAX_TERM_CHARS = 100  # a term or its translation: names and phrases, not paragraphs
SHAPE = "glossary must be a JSON object of term -> translation"


def _term_problem(term: str) -> str | None:
    if not term.strip():
        return "glossary terms and translations must not be empty"
    if len(term) > MAX_TERM_CHARS:
        return f"glossary terms and translations take up to {MAX_TERM_CHARS} characters"
    if masking.SLOT.search(term):
        return "glossary terms and translations must not look like placeholders (⟦0⟧, [[0]])"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in term):
        return "glossary terms and translations must be one line of text, without control characters"
    return None


def check(terms: dict[str, str]) -> dict[str, str]:
    """`terms` if every rule holds; raises ValueError saying which does not (pydantic's contract)."""
    if len(terms) > MAX_ENTRIES:
        raise ValueError(f"glossary takes up to {MAX_ENTRIES} entries")
    for term, translation in terms.items():
        problem = _term_problem(term) or _term_problem(translation)
        if problem:
            raise ValueError(problem)
    return terms


# The type of /v1/translate's field: errors name `glossary` as the param.
Terms = Annotated[dict[str, str], AfterValidator(check)]


def parse(raw: str | None) -> dict[str, str] | None:
    """The file route's form field: a JSON object under the same rules; None when absent or empty."""
    if not raw:
        return None
    try:
        value: Any = json.loads(raw)
    except ValueError:
        raise InvalidRequest(SHAPE, param="glossary") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidRequest(SHAPE, param="glossary")
    try:
        return check(value) or None
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="glossary") from None
