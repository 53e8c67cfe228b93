"""app.tools.soak's judgement of answers and its request mix, without a server."""

import random

from app.tools.soak import MIX, Soak, SoakConfig, judge


def test_expected_4xx_must_be_openai_shaped():
    shaped = {"error": {"message": "bad", "type": "invalid_request_error"}}
    assert judge("bad_json", 400, shaped) == "ok"
    assert judge("bad_json", 400, {"detail": "bad"}) == "unshaped_error"
    assert judge("unknown_model", 400, shaped) == "http_400:invalid_request_error"  # 404 was due


def test_server_errors_and_empty_answers_are_failures():
    assert judge("chat", 500, {"error": {"message": "x", "type": "internal_error"}}) == "http_500:internal_error"
    assert judge("chat", 200, {"choices": []}) == "bad_answer"
    assert judge("translate", 200, {"translations": [], "text": ""}) == "ok"


def test_every_kind_builds_a_request():
    soak, rng = Soak(SoakConfig(url="http://x", long_prompt_words=50)), random.Random(0)
    for kind in MIX:
        api, body = soak.body(kind, rng)
        assert api in ("chat", "translate")
        assert isinstance(body, bytes) == (kind == "bad_json")
