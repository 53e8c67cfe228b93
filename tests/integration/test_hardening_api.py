"""Issue 14, the API side, on the session app over real HTTP: strings that cannot be encoded are 400s
naming the field and cannot break /metrics, metric labels are configured names only, client input
errors stay 4xx, /health answers from its cache under load, and long prompts are tokenized off the
LLM replica's event loop.

The last one talks to the replica through a DeploymentHandle (`serve_handles`), the way the Router
does: a ~1 MiB prompt is far over the session app's 64 KiB body limit, and a handle reaches the
replica with the very request the Router would forward, without deploying a second app (minutes of
the shared CPU, and a redeploy of the session app's set).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.integration

MIB = 1 << 20


def _post(base_url: str, path: str, raw_json: str) -> httpx.Response:
    """A JSON body written by hand: JSON's `\\ud800` escape, which no client library would encode."""
    return httpx.post(
        base_url + path, content=raw_json.encode("ascii"), headers={"content-type": "application/json"}, timeout=60
    )


def _error(r: httpx.Response, status: int, param: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and err["param"] == param, err
    return err


def test_surrogate_model_is_a_json_400_and_metrics_keep_answering(base_url):
    r = _post(
        base_url,
        "/v1/chat/completions",
        '{"model": "x\\ud800", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}',
    )
    assert "surrogate" in _error(r, 400, "model")["message"]
    r = _post(base_url, "/v1/translate", '{"text": "hello", "target_lang": "de", "model": "x\\ud800"}')
    _error(r, 400, "model")
    metrics = httpx.get(base_url + "/metrics", timeout=30)
    assert metrics.status_code == 200 and "fanyi_requests_total" in metrics.text


@pytest.mark.parametrize(
    "path, body, param",
    [
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": "hi \\udfff there"}], "max_tokens": 1}',
            "messages.0.content",
        ),
        ("/v1/completions", '{"model": "tiny", "prompt": "hi \\udfff", "max_tokens": 1}', "prompt"),
        ("/v1/translate", '{"segments": ["fine", "hello \\udfff world"], "target_lang": "de"}', "segments"),
        ("/v1/translate", '{"text": "hello", "target_lang": "de\\udfff"}', "target_lang"),
    ],
)
def test_surrogates_anywhere_are_400s_naming_the_field(base_url, path, body, param):
    _error(_post(base_url, path, body), 400, param)


def test_unknown_model_names_never_become_metric_labels(base_url):
    probe = f"probe-{uuid.uuid4().hex}"
    r = httpx.post(
        base_url + "/v1/chat/completions",
        timeout=60,
        json={"model": probe, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
    )
    assert r.status_code == 404
    text = httpx.get(base_url + "/metrics", timeout=30).text
    assert probe not in text and 'model="unknown"' in text


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
        ("/v1/completions", {"model": "tiny", "prompt": "hi", "max_tokens": 1}),
    ],
)
def test_seed_beyond_int64_is_a_400_naming_seed(base_url, path, body):
    _error(httpx.post(base_url + path, json={**body, "seed": 2**64}, timeout=60), 400, "seed")
    assert httpx.post(base_url + path, json={**body, "seed": 2**63 - 1}, timeout=60).status_code == 200


def test_health_answers_from_its_cache_under_32_callers(base_url):
    async def main() -> tuple[list[float], list[int], dict]:
        latencies, statuses = [], []
        deadline = time.monotonic() + 4.0
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:

            async def caller():
                while time.monotonic() < deadline:
                    t = time.perf_counter()
                    r = await client.get(base_url + "/health")
                    latencies.append(time.perf_counter() - t)
                    statuses.append(r.status_code)

            await asyncio.gather(*(caller() for _ in range(32)))
            last = (await client.get(base_url + "/health")).json()
        return latencies, statuses, last

    latencies, statuses, last = asyncio.run(main())
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(0.99 * (len(latencies) - 1))]
    print(f"/health, 32 callers for 4 s: {len(latencies)} answers, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    assert 500 not in statuses and set(statuses) == {200}, sorted(set(statuses))
    assert p99 < 1.0, f"p99 {p99:.2f} s"
    assert last["status"] == "ok" and last["models"] == {"tiny": "HEALTHY", "tiny-hf": "HEALTHY"}
    assert last["age_s"] is not None and last["age_s"] < 5.0  # refreshed every second in the background


def test_short_request_is_not_held_while_a_long_prompt_is_tokenized(serve_handles):
    from app.errors import ContextLengthExceeded
    from app.generation import GenerateRequest

    handle = serve_handles("LLM:tiny")

    def small() -> GenerateRequest:
        return GenerateRequest(request_id=f"small-{uuid.uuid4().hex}", prompt="hello", max_tokens=1, temperature=0.0)

    def big() -> tuple[object, float]:  # a ~1 MiB prompt: tokenized (about a second), then refused as too long
        req = GenerateRequest(request_id=f"big-{uuid.uuid4().hex}", prompt="hello world " * (MIB // 12))
        try:
            outcome = handle.complete.remote(req).result(timeout_s=120)
        except Exception as exc:  # noqa: BLE001 - the outcome is checked below
            outcome = exc
        return outcome, time.perf_counter()

    handle.complete.remote(small()).result(timeout_s=60)  # warm: the handle's routing, the engine
    with ThreadPoolExecutor(3) as pool:
        started = time.perf_counter()
        bigs = [pool.submit(big) for _ in range(3)]
        time.sleep(0.3)  # sent, and being tokenized
        result = handle.complete.remote(small()).result(timeout_s=60)
        answered = time.perf_counter()
        outcomes = [b.result() for b in bigs]
    latency = answered - started
    print(f"1-token request sent 0.3 s after 3 x 1 MiB prompts: answered after {latency:.2f} s")
    assert result.completion_tokens == 1
    assert latency < 1.5, f"{latency:.2f} s"  # 0.35 s here; 2.75 s while the loop tokenized
    assert any(done > answered for _, done in outcomes)  # long prompts were still in the replica meanwhile
    assert all(isinstance(o, ContextLengthExceeded) for o, _ in outcomes), outcomes  # a 400, not a 5xx
