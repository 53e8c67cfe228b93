"""Glossary rules (app/translate/glossary.py): the same on /v1/translate's field and the file route's form field."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from app.api.protocol import TranslateRequest
from app.errors import InvalidRequest
from app.translate import glossary

BAD = [
    ({"⟦0⟧": "x"}, "placeholders"),  # it replaced a URL's placeholder
    ({"see": "[[1]]"}, "placeholders"),
    ({"see": "〚2〛"}, "placeholders"),
    ({str(i): "x" for i in range(glossary.MAX_ENTRIES + 1)}, "up to 200 entries"),
    ({"term": "x" * (glossary.MAX_TERM_CHARS + 1)}, "up to 100 characters"),
    ({"a\nEnglish: b": "c"}, "one line"),  # a line break writes a turn into a few-shot prompt
    ({"term": "\udfff"}, "one line"),  # a lone surrogate: no tokenizer can take it
    ({" ": "x"}, "empty"),
]


@pytest.mark.parametrize("terms, message", BAD)
def test_translate_request_refuses_bad_glossaries_naming_the_field(terms, message):
    with pytest.raises(ValidationError) as exc:
        TranslateRequest(text="hi", target_lang="de", glossary=terms)
    error = exc.value.errors()[0]
    assert error["loc"] == ("glossary",) and message in error["msg"]


@pytest.mark.parametrize("terms, message", BAD)
def test_file_route_glossary_has_the_same_rules(terms, message):
    # Before, the form field skipped the 200-entry cap: 10k entries built a 157k-token prompt.
    with pytest.raises(InvalidRequest) as exc:
        glossary.parse(json.dumps(terms))
    assert exc.value.param == "glossary" and message in exc.value.message


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"a": 1}', '"text"'])
def test_file_route_glossary_must_be_an_object_of_strings(raw):
    with pytest.raises(InvalidRequest, match="JSON object"):
        glossary.parse(raw)


def test_good_glossaries_pass_unchanged():
    terms = {"Ray Serve": "Ray Serve", "集群": "cluster", "world": "<img src=x onerror=alert(1)>"}
    assert glossary.parse(json.dumps(terms)) == terms
    assert TranslateRequest(text="hi", target_lang="de", glossary=terms).glossary == terms
    assert glossary.parse(None) is None and glossary.parse("") is None and glossary.parse("{}") is None
