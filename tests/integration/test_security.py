"""Access control and limits on a live app: keys (config and environment), 401/429/413/503/504
shapes with Retry-After and the request id, open /health, protected /metrics, rejection counters.

A second, small application ("fanyi-guard" under /guard) is deployed next to the session app on the
session cluster: one transformers replica of the tiny model that takes one request at a time with a
queue of one, keys, rate limits and short limits. `serve deploy` replaces the whole set of apps, so
the fixture deploys both and puts the session app back alone afterwards.
"""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from tests.conftest import _wait_http, app_config

pytestmark = pytest.mark.integration

KEY = "sk-guard-config-0001"
ENV_KEY = "sk-guard-environ-0002"
LIMITED = "sk-guard-limited-0003"  # 30 requests per minute
TOKENS = "sk-guard-tokens-0004"  # 600 tokens per minute
PREFIX = "/guard"
# Tokens of the long answers (the cap too): ~2 s on the transformers engine here (~930 tok/s), well
# past the guard app's 1 s timeout, and within the tiny model's 2048 positions.
LONG = 2000


def guard_app(tiny_model) -> dict:
    model = {
        "name": "guard",
        "source": str(tiny_model),
        "device": "cpu",
        "engine": "transformers",
        "max_model_len": 2048,
        "deployment": {
            "num_cpus": 0.25,
            "num_replicas": 1,
            "max_ongoing_requests": 1,
            "max_queued_requests": 1,
            "health_check_period_s": 2,
            "graceful_shutdown_timeout_s": 5,
        },
    }
    return {
        "name": "fanyi-guard",
        "route_prefix": PREFIX,
        "import_path": "deployments.builder:build_app",
        # The app's runtime_env holds the key, `args` only names the variable; build_app forwards it
        # to the Router (Serve would not: the Router's own runtime_env has env_vars).
        "runtime_env": {"env_vars": {"FANYI_GUARD_KEYS": ENV_KEY}},
        "args": {
            "models": [model],
            "router": {"num_cpus": 0.1, "num_replicas": 1},
            "postprocessor": {"num_cpus": 0.1, "num_replicas": 1},
            "limits": {"max_request_bytes": 8192, "max_tokens_cap": LONG, "max_segments": 4, "request_timeout_s": 1.0},
            "auth": {
                "api_keys": [
                    KEY,
                    {"key": LIMITED, "name": "limited", "requests_per_minute": 30},
                    {"key": TOKENS, "name": "tokens", "tokens_per_minute": 600},
                ],
                "api_keys_env": "FANYI_GUARD_KEYS",
            },
        },
    }


@pytest.fixture(scope="module")
def guard(cluster, tiny_model):
    session = app_config(tiny_model, cluster.http_port)
    both = {**session, "applications": [*session["applications"], guard_app(tiny_model)]}
    cluster.deploy(both)
    url = cluster.url + PREFIX
    try:
        _wait_http(url + "/health", timeout=240)
        yield url
    finally:
        cluster.deploy(session)  # the guard app goes, the session app is untouched


def _auth(key: str) -> dict:
    return {"authorization": f"Bearer {key}"}


def _chat(max_tokens: int = 4, **extra) -> dict:
    return {"model": "guard", "messages": [{"role": "user", "content": "hello"}], "max_tokens": max_tokens, **extra}


def _assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and set(err) >= {"message", "type", "param", "code"}
    assert err["request_id"] == r.headers["x-request-id"]  # the id the router's log line carries
    return err


def test_keys_from_config_and_env_and_401_without(guard):
    assert httpx.get(guard + "/v1/models", headers=_auth(KEY)).status_code == 200
    assert httpx.get(guard + "/v1/models", headers=_auth(ENV_KEY)).status_code == 200  # from runtime_env
    for headers in ({}, _auth("sk-guard-wrong-9999"), {"authorization": KEY}):
        r = httpx.post(guard + "/v1/chat/completions", json=_chat(), headers=headers)
        err = _assert_error(r, 401, "invalid_api_key")
        assert "sk-guard" not in r.text and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(guard + "/health").status_code == 200  # the readiness probe needs no key
    assert httpx.get(guard + "/metrics").status_code == 401
    client = openai.OpenAI(base_url=guard + "/v1", api_key=KEY, max_retries=0, timeout=60)
    assert client.chat.completions.create(**_chat()).choices[0].finish_reason
    with pytest.raises(openai.AuthenticationError) as exc:
        openai.OpenAI(base_url=guard + "/v1", api_key="sk-nope-00000", max_retries=0).models.list()
    assert exc.value.body["code"] == "invalid_api_key" and err["type"] == "invalid_request_error"


def test_requests_per_minute_gives_429_with_retry_after_then_recovers(guard):
    seen = None
    for _ in range(40):  # burst 30, refilling one every 2 s
        r = httpx.get(guard + "/v1/models", headers=_auth(LIMITED))
        if r.status_code == 429:
            seen = r
            break
        assert r.status_code == 200
    assert seen is not None, "no 429 within 40 requests"
    _assert_error(seen, 429, "rate_limit_exceeded")
    wait = int(seen.headers["retry-after"])
    assert 1 <= wait <= 2
    time.sleep(wait + 0.2)
    assert httpx.get(guard + "/v1/models", headers=_auth(LIMITED)).status_code == 200
    assert httpx.get(guard + "/v1/models", headers=_auth(KEY)).status_code == 200  # other keys unaffected


def test_tokens_per_minute_are_charged_from_usage(guard):
    # One streamed answer of 620 tokens overdraws the 600-token minute; the next request waits.
    with httpx.stream(
        "POST",
        guard + "/v1/chat/completions",
        headers=_auth(TOKENS),
        timeout=120,
        json=_chat(620, stream=True, ignore_eos=True),
    ) as r:
        assert r.status_code == 200
        assert r.read().endswith(b"data: [DONE]\n\n")
    r = httpx.get(guard + "/v1/models", headers=_auth(TOKENS))
    err = _assert_error(r, 429, "rate_limit_exceeded")
    assert "tokens" in err["message"]
    time.sleep(int(r.headers["retry-after"]) + 0.2)
    assert httpx.get(guard + "/v1/models", headers=_auth(TOKENS)).status_code == 200


def test_size_segment_and_token_limits(guard):
    r = httpx.post(
        guard + "/v1/chat/completions",
        headers=_auth(KEY),
        json=_chat(messages=[{"role": "user", "content": "x" * 9000}]),
    )
    _assert_error(r, 413, "request_too_large")
    r = httpx.post(
        guard + "/v1/translate",
        headers=_auth(KEY),
        json={"segments": ["one.", "two.", "three.", "four.", "five."], "target_lang": "de"},
    )
    assert _assert_error(r, 400, "too_many_segments")["param"] == "segments"  # limits.max_segments
    r = httpx.post(guard + "/v1/translate", headers=_auth(KEY), json={"segments": ["a"] * 257, "target_lang": "de"})
    assert _assert_error(r, 400, "too_many_segments")["param"] == "segments"  # the wire model's bound
    text = "\n\n".join(f"Paragraph number {i} is here." for i in range(6))
    r = httpx.post(guard + "/v1/translate", headers=_auth(KEY), json={"text": text, "target_lang": "de"})
    _assert_error(r, 400, "too_many_segments")
    r = httpx.post(guard + "/v1/chat/completions", headers=_auth(KEY), json=_chat(LONG + 1))
    _assert_error(r, 400, "max_tokens_exceeded")


def test_overload_is_503_at_once_and_slow_answers_504(guard):
    long = _chat(LONG, ignore_eos=True)
    busy = threading.Event()

    def hold() -> None:  # the replica takes one request and queues one: a long stream holds it
        with httpx.stream(
            "POST", guard + "/v1/chat/completions", headers=_auth(KEY), timeout=60, json={**long, "stream": True}
        ) as r:
            for _ in r.iter_bytes():
                busy.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert busy.wait(30)
    results: list[httpx.Response] = []

    def short() -> None:
        results.append(httpx.post(guard + "/v1/chat/completions", headers=_auth(KEY), json=_chat(), timeout=60))

    workers = [threading.Thread(target=short) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    overloaded = [r for r in results if r.status_code == 503]
    assert overloaded, [r.status_code for r in results]
    _assert_error(overloaded[0], 503, "overloaded")
    assert int(overloaded[0].headers["retry-after"]) >= 1
    assert all(r.status_code in (200, 503, 504) for r in results)
    holder.join(timeout=120)
    # Not streamed, LONG tokens (~2 s here): past limits.request_timeout_s (1 s) the router cancels it.
    t0 = time.monotonic()
    r = httpx.post(guard + "/v1/chat/completions", headers=_auth(KEY), json=long, timeout=60)
    _assert_error(r, 504, "timeout")
    assert time.monotonic() - t0 < 10


def test_rejections_are_counted_by_reason(guard):
    text = httpx.get(guard + "/metrics", headers=_auth(KEY)).text
    for reason in (
        "unauthorized",
        "rate_limited",
        "too_large",
        "too_many_segments",
        "too_many_tokens",
        "overloaded",
        "timeout",
    ):
        assert f'reason="{reason}"' in text, reason
