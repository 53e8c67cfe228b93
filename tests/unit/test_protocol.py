import json
import pickle

import pytest
from pydantic import ValidationError

from app import protocol
from app.errors import ContextLengthExceeded, ModelNotFound, Overloaded
from app.errors_map import to_client_error


def test_chat_request_defaults_and_limits():
    req = protocol.ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}], max_completion_tokens=7)
    assert req.token_limit() == 7 and req.n == 1 and req.stop == []
    assert not req.include_usage()


@pytest.mark.parametrize(
    "extra",
    [{"n": 2}, {"temperature": 3}, {"top_p": 0}, {"max_tokens": 0}, {"stop": [""]}, {"stop": ["a"] * 9},
     {"unknown_field": 1}, {"messages": []}, {"logprobs": True}],
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
    assert err.to_body() == {"error": {"message": "too long", "type": "invalid_request_error",
                                       "param": "max_tokens", "code": "context_length_exceeded"}}
    assert ModelNotFound("x").status_code == 404


def test_client_errors_hide_internals():
    class BackPressureError(Exception):
        pass

    assert isinstance(to_client_error(BackPressureError("queue"), "r1"), Overloaded)
    err = to_client_error(RuntimeError("/secret/path.py line 3"), "r2")
    assert err.status_code == 500 and "secret" not in err.message and "r2" in err.message
