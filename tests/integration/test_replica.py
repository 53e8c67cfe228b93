"""Replica behaviour seen from outside: live stats, and abort when the client disconnects."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.integration


def _stats(serve_handles) -> dict:
    return serve_handles("LLM:tiny").stats.remote().result(timeout_s=30)


def test_replica_reports_live_stats(serve_handles):
    stats = _stats(serve_handles)
    assert {"running", "waiting", "kv_cache_usage", "unfinished"} <= stats.keys()
    info = serve_handles("LLM:tiny").info.remote().result(timeout_s=30)
    assert info["model"] == "tiny" and info["max_model_len"] == 1024


def test_client_disconnect_aborts_the_engine_request(base_url, serve_handles):
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 1000, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", base_url + "/v1/completions", json=body, timeout=60) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        received = [line for line, _ in zip((x for x in lines if x.startswith("data:")), range(3))]
        assert len(received) == 3
        assert _stats(serve_handles)["unfinished"] == 1  # generating, far from its 1000 tokens
        disconnected = time.monotonic()
    # The connection is closed: the proxy cancels the router, the router cancels the replica
    # stream, and vLLM aborts the request and frees its KV cache.
    while _stats(serve_handles)["unfinished"] != 0:
        assert time.monotonic() - disconnected < 15, "engine request still running after disconnect"
        time.sleep(0.2)
