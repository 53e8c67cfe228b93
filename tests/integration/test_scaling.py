"""Operators scale by editing the config and running `serve deploy`: no request may fail meanwhile."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from tests.conftest import app_config

pytestmark = pytest.mark.integration


def _replicas(cluster, deployment: str) -> int:
    app = cluster.status()["applications"]["fanyi"]
    return app["deployments"][deployment]["replica_states"].get("RUNNING", 0)


def _wait_replicas(cluster, deployment: str, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app = cluster.status()["applications"]["fanyi"]
        dep = app.get("deployments", {}).get(deployment)  # absent while Serve rebuilds the app
        if dep and dep["status"] == "HEALTHY" and dep["replica_states"] == {"RUNNING": count}:
            return
        time.sleep(1)
    raise TimeoutError(f"{deployment} did not reach {count} replicas: {cluster.status()}")


def test_replica_count_change_by_serve_deploy_loses_no_request(cluster, tiny_model, base_url, serve_handles):
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120)
    stop, ok, failures = threading.Event(), [], []

    def traffic(stream: bool) -> None:
        while not stop.is_set():
            try:
                if stream:
                    chunks = list(client.completions.create(model="tiny", prompt="hello", max_tokens=8, stream=True))
                    assert chunks
                else:
                    client.chat.completions.create(
                        model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=8
                    )
                ok.append(time.monotonic())
            except Exception as exc:  # any failure is what this test is about
                failures.append(repr(exc))

    hf_replica = serve_handles("LLM:tiny-hf").info.remote().result(timeout_s=30)["replica"]
    workers = [threading.Thread(target=traffic, args=(i % 2 == 0,)) for i in range(3)]
    for w in workers:
        w.start()
    try:
        assert _replicas(cluster, "LLM:tiny") == 1
        cluster.deploy(app_config(tiny_model, cluster.http_port, replicas=2))
        _wait_replicas(cluster, "LLM:tiny", 2)
        during_up = len(ok)
        time.sleep(3)
        cluster.deploy(app_config(tiny_model, cluster.http_port, replicas=1))
        _wait_replicas(cluster, "LLM:tiny", 1)
        time.sleep(3)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=120)
    assert failures == []
    assert during_up > 0 and len(ok) > during_up
    # A replica-count change is applied in place: the other model's replica was never restarted.
    assert serve_handles("LLM:tiny-hf").info.remote().result(timeout_s=30)["replica"] == hf_replica
    assert _replicas(cluster, "LLM:tiny-hf") == 1 and _replicas(cluster, "Router") == 1
