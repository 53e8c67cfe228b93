"""The OpenAI-compatible API, driven with the official `openai` client against the real app:
Ray Serve, the vLLM CPU engine (model "tiny") and the transformers engine (model "tiny-hf")."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Translate to German: good morning"}]


def test_models_list_has_every_configured_model(client):
    ids = [m.id for m in client.models.list().data]
    assert ids == ["tiny", "tiny-zh", "tiny-hf", "tiny-hf-zh"]  # each model, then its adapters


@pytest.mark.parametrize("model", ["tiny", "tiny-hf"])
def test_chat_completion_with_usage(client, model):
    resp = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=12, extra_body={"ignore_eos": True}
    )
    choice = resp.choices[0]
    assert resp.model == model and choice.message.role == "assistant"
    assert choice.message.content and choice.finish_reason == "length"
    assert resp.usage.completion_tokens == 12
    assert resp.usage.prompt_tokens > 5
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 12


@pytest.mark.parametrize("model", ["tiny", "tiny-hf"])
def test_streamed_chat_matches_usage(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        max_tokens=10,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text and finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 10


def test_greedy_stream_equals_non_stream(client):
    args = dict(model="tiny", messages=MESSAGES, max_tokens=16, temperature=0)
    whole = client.chat.completions.create(**args).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**args, stream=True))
    assert streamed == whole


def test_completions_and_seed_reproducibility(client):
    args = dict(model="tiny", prompt="The weather is", max_tokens=8, temperature=1.0, seed=1234)
    first = client.completions.create(**args)
    second = client.completions.create(**args)
    assert first.choices[0].text == second.choices[0].text
    assert first.object == "text_completion" and first.usage.completion_tokens <= 8
    streamed = "".join(c.choices[0].text for c in client.completions.create(**args, stream=True) if c.choices)
    assert streamed == first.choices[0].text


def test_stop_sequence_truncates(client):
    base = (
        client.completions.create(
            model="tiny", prompt="Good morning", max_tokens=24, temperature=0, extra_body={"ignore_eos": True}
        )
        .choices[0]
        .text
    )
    stop = base.strip()[len(base.strip()) // 2 :][:3]
    assert stop
    cut = client.completions.create(
        model="tiny", prompt="Good morning", max_tokens=24, temperature=0, stop=[stop], extra_body={"ignore_eos": True}
    )
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in cut.choices[0].text and base.startswith(cut.choices[0].text)


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=MESSAGES)
    body = err.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model" and "tiny" in body["message"]


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"temperature": 5}, "temperature"),
        ({"n": 2}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"frobnicate": True}, "frobnicate"),
    ],
)
def test_invalid_parameters_are_400_naming_the_field(client, extra, param):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=MESSAGES, extra_body=extra)
    assert err.value.status_code == 400
    assert err.value.body["type"] == "invalid_request_error" and param in err.value.body["param"]


def test_prompt_longer_than_context_is_400(client):
    long_prompt = "hello world " * 2000
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="tiny", prompt=long_prompt, max_tokens=4)
    assert err.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=5000, stream=True)
    assert err.value.body["param"] == "max_tokens"


@pytest.mark.parametrize(
    "content, status",
    [(b"{not json", 400), (b'{"messages": "x"}', 400), (b"[]", 400), (b'{"model": "tiny"}', 400)],
)
def test_malformed_bodies_get_openai_errors(base_url, content, status):
    resp = httpx.post(base_url + "/v1/chat/completions", content=content, headers={"content-type": "application/json"})
    assert resp.status_code == status
    # OpenAI's four fields, plus the request id the response header carries too
    assert set(resp.json()["error"]) == {"message", "type", "param", "code", "request_id"}


def test_oversized_body_is_413(base_url):
    resp = httpx.post(base_url + "/v1/completions", json={"model": "tiny", "prompt": "x" * 70000})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_too_large"


def test_unknown_route_is_openai_shaped_404(base_url):
    resp = httpx.get(base_url + "/v1/nothing-here")
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"


def test_health_and_metrics(client, base_url):
    client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=3, stream=True).close()
    client.completions.create(model="tiny", prompt="hi", max_tokens=3)
    health = httpx.get(base_url + "/health")
    assert health.status_code == 200 and health.json()["models"] == {"tiny": "HEALTHY", "tiny-hf": "HEALTHY"}
    text = httpx.get(base_url + "/metrics").text
    assert "fanyi_requests_total{" in text and 'model="tiny"' in text
    assert "fanyi_time_to_first_token_seconds_bucket" in text
    assert "fanyi_completion_tokens_total" in text and "fanyi_queue_depth" in text
    assert 'type="invalid_request_error"' in text  # the 4xx cases above were counted
