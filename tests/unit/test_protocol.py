import json
import pickle

import pytest
from pydantic import ValidationError

from app.api import protocol
from app.api.error_map import to_client_error
from app.errors import ContextLengthExceeded, InvalidRequest, ModelNotFound, Overloaded


def test_chat_request_defaults_and_limits():
    req = protocol.ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}], max_completion_tokens=7)
    assert req.token_limit() == 7 and req.n == 1 and req.stop == []
    assert not req.include_usage()


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2},
        {"temperature": 3},
        {"top_p": 0},
        {"max_tokens": 0},
        {"stop": [""]},
        {"stop": ["a"] * 9},
        {"unknown_field": 1},
        {"messages": []},
        {"logprobs": True},
    ],
)
def test_chat_request_rejects_bad_fields(extra):
    body = {"messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(ValidationError):
        protocol.ChatCompletionRequest(**body)


def test_message_content_parts_are_joined():
    msg = protocol.ChatMessage(role="user", content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert msg.text() == "ab"


def test_completion_prompt_forms():
    assert protocol.CompletionRequest(prompt=["one"]).prompt == "one"
    assert protocol.CompletionRequest(prompt=[1, 2, 3]).prompt == [1, 2, 3]
    assert protocol.CompletionRequest(prompt="x", stop="\n").stop == ["\n"]
    with pytest.raises(ValidationError):
        protocol.CompletionRequest(prompt=["a", "b"])
    with pytest.raises(ValidationError):
        protocol.CompletionRequest(prompt=[])


def test_sse_framing_and_chunks():
    chunk = protocol.chat_chunk("id1", "m", 1, {"content": "你好"}, None)
    frame = protocol.sse(chunk)
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    assert json.loads(frame[6:])["choices"][0]["delta"]["content"] == "你好"
    usage_only = protocol.chat_chunk("id1", "m", 1, None, None, protocol.usage(3, 4))
    assert usage_only["choices"] == [] and usage_only["usage"]["total_tokens"] == 7
    assert protocol.SSE_DONE == b"data: [DONE]\n\n"


def test_errors_survive_pickling_with_their_fields():
    err = pickle.loads(pickle.dumps(ContextLengthExceeded("too long", param="max_tokens")))
    assert type(err) is ContextLengthExceeded and err.status_code == 400
    assert err.to_body() == {
        "error": {
            "message": "too long",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "context_length_exceeded",
        }
    }
    assert ModelNotFound("x").status_code == 404


def test_client_errors_hide_internals():
    from ray.exceptions import ActorDiedError
    from ray.serve.exceptions import BackPressureError

    assert isinstance(
        to_client_error(BackPressureError(num_queued_requests=9, max_queued_requests=8), "r1"), Overloaded
    )
    assert to_client_error(ActorDiedError(), "r1").code == "engine_unavailable"
    assert to_client_error(type("BackPressureError", (Exception,), {})("named alike"), "r1").status_code == 500
    err = to_client_error(RuntimeError("/secret/path.py line 3"), "r2")
    assert err.status_code == 500 and "secret" not in err.message and "r2" in err.message


SURROGATE = "\udfff"  # what the JSON escape "\udfff" decodes to: a str, but no encoder takes it
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "model, body, field",
    [
        (protocol.ChatCompletionRequest, {**CHAT, "model": "x" + SURROGATE}, ("model",)),
        (
            protocol.ChatCompletionRequest,
            {"messages": [{"role": "user", "content": SURROGATE}]},
            ("messages", 0, "content"),
        ),
        (
            protocol.ChatCompletionRequest,
            {"messages": [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]},
            ("messages", 0, "content", "list[TextPart]", 0, "text"),
        ),
        (
            protocol.ChatCompletionRequest,
            {"messages": [{"role": "user", "content": "a", "name": SURROGATE}]},
            ("messages", 0, "name"),
        ),
        (protocol.ChatCompletionRequest, {**CHAT, "stop": ["ok", SURROGATE]}, ("stop",)),
        (protocol.ChatCompletionRequest, {**CHAT, "user": SURROGATE}, ("user",)),
        (protocol.CompletionRequest, {"prompt": "a" + SURROGATE}, ("prompt",)),
        (protocol.CompletionRequest, {"prompt": [SURROGATE]}, ("prompt",)),
        (protocol.TranslateRequest, {"text": SURROGATE, "target_lang": "de"}, ("text",)),
        (protocol.TranslateRequest, {"segments": ["a", SURROGATE], "target_lang": "de"}, ("segments",)),
        (protocol.TranslateRequest, {"text": "a", "target_lang": "de" + SURROGATE}, ("target_lang",)),
        (protocol.TranslateRequest, {"text": "a", "target_lang": "de", "source_lang": SURROGATE}, ("source_lang",)),
        (protocol.TranslateRequest, {"text": "a", "target_lang": "de", "model": SURROGATE}, ("model",)),
        (protocol.TranslateRequest, {"text": "a", "target_lang": "de", "glossary": {"a": SURROGATE}}, ("glossary",)),
    ],
)
def test_strings_that_cannot_be_encoded_are_refused_naming_the_field(model, body, field):
    with pytest.raises(ValidationError) as exc:
        model(**body)
    errors = exc.value.errors()
    assert any(e["loc"] == field for e in errors), errors
    for e in errors:  # and the error itself can be sent and logged
        str(e["msg"]).encode("utf-8")


def test_valid_unicode_passes_the_encoding_check():
    text = "今天天气很好 😀 café"  # astral characters are one code point in Python, not a surrogate pair
    assert protocol.ChatCompletionRequest(messages=[{"role": "user", "content": text}], stop=[text]).stop == [text]
    assert protocol.TranslateRequest(segments=[text], target_lang="de", glossary={"天气": "Wetter"}).segments == [text]
    assert protocol.CompletionRequest(prompt=[1, 2, 3]).prompt == [1, 2, 3]


def test_unencodable_says_where_and_check_encodable_gives_a_400():
    assert protocol.unencodable(["a", {"k": ["b", "c" + SURROGATE]}]).startswith("[1] ['k'] [1] contains")
    assert protocol.unencodable({SURROGATE: "v"}).startswith("a key contains")
    assert protocol.unencodable(["ok", 3, None]) is None
    with pytest.raises(InvalidRequest) as exc:
        protocol.check_encodable("target_lang", "de" + SURROGATE)
    assert exc.value.status_code == 400 and exc.value.param == "target_lang"
    assert "U+DFFF" in exc.value.message
    protocol.check_encodable("model", None)


@pytest.mark.parametrize(
    "seed, ok", [(2**63 - 1, True), (-(2**63), True), (0, True), (2**63, False), (2**64, False), (-(2**63) - 1, False)]
)
def test_seed_is_a_signed_64_bit_integer_as_in_vllm(seed, ok):
    if ok:
        assert protocol.CompletionRequest(prompt="a", seed=seed).seed == seed
        return
    for model, body in ((protocol.CompletionRequest, {"prompt": "a"}), (protocol.ChatCompletionRequest, CHAT)):
        with pytest.raises(ValidationError) as exc:
            model(**body, seed=seed)
        assert exc.value.errors()[0]["loc"] == ("seed",)
