"""Faults injected into the running app, and what clients see: a replica process killed mid-stream,
the post-processing deployment gone. (A client disconnecting mid-stream aborts the engine request:
tests/integration/test_replica.py checks it through the replica's stats.)

They share the session cluster, so each waits until the app is whole again before returning.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration


def _replica_process(cluster, deployment: str) -> psutil.Process:
    """The OS process of the deployment's one live replica, found through Ray's state API (at this
    cluster's dashboard: other Ray clusters may run on the machine)."""
    from ray.util.state import list_actors

    actors = list_actors(
        address=f"http://127.0.0.1:{cluster.dashboard_port}",
        filters=[("class_name", "=", f"ServeReplica:fanyi:{deployment}"), ("state", "=", "ALIVE")],
        raise_on_missing_output=False,
    )  # dead actors count as "truncated"
    assert len(actors) == 1, actors
    return psutil.Process(actors[0].pid)


def _health(base_url) -> tuple[int, dict]:
    resp = httpx.get(base_url + "/health", timeout=30)
    return resp.status_code, resp.json()


def _wait_healthy(base_url, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _health(base_url)[0] == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"/health not ok after {timeout}s")


def _events(lines) -> list:
    """SSE data payloads, parsed; "[DONE]" kept as is."""
    out = []
    for line in lines:
        if line.startswith("data:"):
            data = line[5:].strip()
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_replica_killed_mid_stream(cluster, base_url, serve_handles, client):
    replica = _replica_process(cluster, "LLM:tiny")
    engine_cores = replica.children(recursive=True)  # vLLM's EngineCore runs in a child process
    assert engine_cores, "expected vLLM's engine core process under the replica"
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 900, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", base_url + "/v1/completions", json=body, timeout=60) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        before = _events(next(lines) for _ in range(6))  # data/blank line pairs: a few chunks arrived
        assert before and all(isinstance(e, dict) and "choices" in e for e in before)
        os.kill(replica.pid, signal.SIGKILL)
        killed = time.monotonic()
        after = _events(lines)  # the read timeout (60 s) bounds a hang
    assert time.monotonic() - killed < 30
    # The stream ends cleanly: an OpenAI-shaped error event, then [DONE]; nothing internal leaks.
    assert after[-1] == "[DONE]"
    error = after[-2]["error"]
    assert error["type"] == "service_unavailable_error" and error["code"] == "engine_unavailable", error
    assert "Actor" not in error["message"] and "Traceback" not in error["message"]
    # vLLM's engine core dies with its replica (deployments/vllm_plugin.py): no orphan holds memory.
    _, orphans = psutil.wait_procs(engine_cores, timeout=15)
    assert orphans == [], [p.pid for p in orphans]

    # /health reports the model degraded until Serve's replacement replica is up, then ok again.
    deadline, seen = time.monotonic() + 60, None
    while time.monotonic() < deadline and seen is None:
        status, health = _health(base_url)
        if status == 503:
            seen = health
        time.sleep(0.2)
    assert seen is not None and seen["status"] == "degraded" and seen["models"]["tiny"] != "HEALTHY", seen
    assert seen["models"]["tiny-hf"] == "HEALTHY"
    _wait_healthy(base_url)
    assert _replica_process(cluster, "LLM:tiny").pid != replica.pid
    reply = client.completions.create(model="tiny", prompt="hello", max_tokens=8)
    assert reply.usage.completion_tokens > 0
    streamed = list(
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=True
        )
    )
    assert streamed[-1].choices[0].finish_reason is not None


def _translate(base_url) -> tuple[float, dict]:
    # A distinct text each time: a translation-memory hit would skip the post-processor altogether.
    text = f"Good morning, {uuid.uuid4().hex[:8]}! See https://example.com/a?b=1 today."
    started = time.monotonic()
    resp = httpx.post(
        base_url + "/v1/translate",
        timeout=120,
        json={"model": "tiny", "text": text, "source_lang": "en", "target_lang": "de", "temperature": 1.0},
    )
    assert resp.status_code == 200, resp.text
    return time.monotonic() - started, resp.json()


def test_postprocessor_failure_degrades_to_raw_output(cluster, base_url, serve_handles):
    """A hung PostProcessor replica (SIGSTOP), then a killed one: translations keep coming back,
    raw and flagged while it is out, cleaned again once Serve has replaced it."""
    from app.translate.translator import POSTPROCESS_TIMEOUT_S

    replica = _replica_process(cluster, "PostProcessor")
    os.kill(replica.pid, signal.SIGSTOP)
    try:
        elapsed, body = _translate(base_url)
        assert "postprocess_unavailable" in body["translations"][0]["flags"], body
        assert elapsed < POSTPROCESS_TIMEOUT_S + 30
        # Raw output, placeholders still restored: the URL the model saw as a placeholder is back.
        assert "https://example.com/a?b=1" in body["text"]
    finally:
        os.kill(replica.pid, signal.SIGKILL)
    # Killed: Serve starts a new replica; no request fails meanwhile, and then cleanup is back.
    _, body = _translate(base_url)
    deadline = time.monotonic() + 120
    while (
        _replica_state("PostProcessor") != {"RUNNING": 1}
        or _replica_process(cluster, "PostProcessor").pid == replica.pid
    ):
        assert time.monotonic() < deadline, "PostProcessor was not replaced"
        time.sleep(1)
    _, body = _translate(base_url)
    assert "postprocess_unavailable" not in body["translations"][0]["flags"], body


def _replica_state(deployment: str) -> dict:
    from ray import serve

    app = serve.status().applications["fanyi"]
    return dict(app.deployments[deployment].replica_states)
