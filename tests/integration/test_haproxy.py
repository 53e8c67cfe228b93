"""The app behind Ray Serve's HAProxy ingress, the mode the GPU profiles are run in.

On 2×H100 the Python proxy saturated one core at ~100 streaming requests/s and held two replicas to
25.9k tok/s; with `RAY_SERVE_ENABLE_HA_PROXY=1` the same two replicas gave 32.9k (docs/benchmarks.md,
2026-11-27). In that mode HAProxy owns the HTTP port and forwards to the Router replicas, each
serving HTTP itself on a port of its own, so none of the Python proxy's request handling runs: this
checks that the whole wire contract (streaming, OpenAI-shaped errors, the translate endpoint) still
holds there.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from tests.conftest import Cluster, app_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def haproxy_cluster(tiny_model):
    workdir = Path(tempfile.mkdtemp(prefix="fanyi-hap-", dir="/tmp"))
    cluster = Cluster(workdir)
    state = workdir  # HAProxy adds a 56-character node directory and allows 97 for its socket path
    # Read when Ray starts (by the controller and the HAProxy manager), so set before `ray start`.
    # HAProxy's files go under this cluster's temp dir: the defaults in /tmp/haproxy-serve are shared
    # by every cluster on the machine. MAXCONN: HAProxy asks for 2.5 file descriptors per connection,
    # and CI machines may allow 20000 at most.
    cluster.env.update(
        {
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_MAXCONN": "2000",
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(state / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(state / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(state),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(state / "server-state"),
        }
    )
    config = app_config(tiny_model, cluster.http_port)
    args = config["applications"][0]["args"]
    args["models"] = [m for m in args["models"] if m["name"] == "tiny"]  # one engine: 2 cores
    try:
        cluster.start()
        cluster.serve(config)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _listener(port: int) -> str:
    """Name of the process listening on this port."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid).name()
    return ""


def test_haproxy_owns_the_http_port(haproxy_cluster):
    assert _listener(haproxy_cluster.http_port) == "haproxy"


def test_streaming_and_models_through_haproxy(haproxy_cluster):
    client = openai.OpenAI(base_url=haproxy_cluster.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    assert {"tiny", "tiny-zh"} <= {m.id for m in client.models.list()}

    def stream(i: int) -> tuple[int, str | None]:
        chunks = client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": f"hello {i}"}],
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = None
        finish = None
        for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        return usage.completion_tokens, finish

    # Several streams at once: HAProxy spreads them over the Router's connections.
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(stream, range(8)))
    assert all(tokens >= 1 and finish in ("stop", "length") for tokens, finish in results), results


def test_translate_and_errors_through_haproxy(haproxy_cluster):
    url = haproxy_cluster.url
    ok = httpx.post(
        url + "/v1/translate",
        json={"text": "你好。", "source_lang": "zh", "target_lang": "en", "model": "tiny"},
        timeout=120,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["model"] == "tiny" and isinstance(ok.json()["translations"][0]["text"], str)

    bad = httpx.post(url + "/v1/translate", json={"text": 1, "target_lang": "en"}, timeout=60)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"

    unknown = httpx.post(
        url + "/v1/chat/completions",
        timeout=60,
        json={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"

    broken = httpx.post(
        url + "/v1/chat/completions", content=b"{not json", timeout=60, headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert "error" in broken.json()
