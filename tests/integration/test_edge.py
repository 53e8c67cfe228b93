"""The HTTP edge over real sockets: slow and incomplete clients, the request's whole lifetime, security
headers, Host and Origin checks and request ids, behind Serve's Python proxy and behind its HAProxy.

Python proxy: a small app ("fanyi-edge" under /edge, one transformers replica of the tiny model, short
deadlines) deployed next to the session app, as tests/integration/test_security.py does. HAProxy: a
cluster of its own started with `RAY_SERVE_ENABLE_HA_PROXY=1` and `cluster/haproxy_edge.py` as its
HAProxy binary, which bounds incomplete headers (Serve's Python proxy cannot: docs/operations.md).
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Cluster, _wait_http, app_config

pytestmark = pytest.mark.integration

PREFIX = "/edge"
BODY_TIMEOUT = 2.0
DEADLINE = 1.0  # limits.request_timeout_s and max_request_duration_s of the edge app
LONG = 2000  # streamed tokens: ~2 s on the transformers engine here, twice the deadline
BOUND = 15.0  # what a refused slow client may take at most here; Serve's own limit was 600 s
HEADER_TIMEOUT = 2  # FANYI_HAPROXY_HTTP_REQUEST_TIMEOUT_S of the HAProxy cluster


def edge_app(tiny_model, name: str = "fanyi-edge", prefix: str = PREFIX) -> dict:
    model = {
        "name": "edge",
        "source": str(tiny_model),
        "device": "cpu",
        "engine": "transformers",
        "max_model_len": 2048,
        "deployment": {
            "num_cpus": 0.25,
            "num_replicas": 1,
            "max_ongoing_requests": 8,
            "max_queued_requests": 8,
            "health_check_period_s": 2,
            "graceful_shutdown_timeout_s": 5,
        },
    }
    return {
        "name": name,
        "route_prefix": prefix,
        "import_path": "deployments.builder:build_app",
        "args": {
            "models": [model],
            "router": {"num_cpus": 0.1, "num_replicas": 1},
            "postprocessor": {"num_cpus": 0.1, "num_replicas": 1},
            "limits": {
                "body_read_timeout_s": BODY_TIMEOUT,
                "request_timeout_s": DEADLINE,
                "max_request_duration_s": DEADLINE,
            },
        },
    }


@pytest.fixture(scope="module")
def edge(cluster, tiny_model):
    session = app_config(tiny_model, cluster.http_port)
    cluster.deploy({**session, "applications": [*session["applications"], edge_app(tiny_model)]})
    try:
        _wait_http(cluster.url + PREFIX + "/health", timeout=240)
        yield cluster
    finally:
        cluster.deploy(session)  # the edge app goes, the session app is untouched


@pytest.fixture(scope="module")
def haproxy_edge(tiny_model):
    workdir = Path(tempfile.mkdtemp(prefix="fanyi-edge-", dir="/tmp"))
    cluster = Cluster(workdir)
    # As in test_haproxy.py: read when Ray starts, HAProxy's files under this cluster's temp dir.
    cluster.env.update(
        {
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_MAXCONN": "2000",
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(workdir / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(workdir / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(workdir),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(workdir / "server-state"),
            "RAY_SERVE_HAPROXY_BINARY_PATH": str(ROOT / "cluster" / "haproxy_edge.py"),
            "FANYI_HAPROXY_HTTP_REQUEST_TIMEOUT_S": str(HEADER_TIMEOUT),
        }
    )
    config = {**app_config(tiny_model, cluster.http_port), "applications": [edge_app(tiny_model, "fanyi", "/")]}
    try:
        cluster.start()
        cluster.serve(config)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _send(port: int, head: str, body: bytes = b"") -> tuple[socket.socket, float]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND + 30)
    sock.sendall(head.replace("\n", "\r\n").encode() + body)
    return sock, time.monotonic()


def _answer(sock: socket.socket) -> tuple[int, dict, dict]:
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        response.close()  # its file over the socket; the socket itself stays for _closed()


@pytest.fixture()
def send():
    """_send, with every socket it opened closed when the test ends, however it ends."""
    opened: list[socket.socket] = []

    def connect(port: int, head: str, body: bytes = b"") -> tuple[socket.socket, float]:
        sock, started = _send(port, head, body)
        opened.append(sock)
        return sock, started

    yield connect
    for sock in opened:
        sock.close()


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


def _post_head(path: str, port: int, *lines: str) -> str:
    return "\n".join(
        [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json", *lines, "", ""]
    )


# -- slow clients (Python proxy) ---------------------------------------------------------------------


def test_a_chunked_body_that_never_ends_gets_a_json_408_whatever_the_client_asked(edge, send):
    head = _post_head(
        PREFIX + "/v1/chat/completions",
        edge.http_port,
        "Transfer-Encoding: chunked",
        "x-request-timeout-seconds: 86400",
    )
    sock, t0 = send(edge.http_port, head, b'a\r\n{"model": \r\n')  # one chunk, then silence
    status, headers, body = _answer(sock)
    took = time.monotonic() - t0
    assert status == 408 and body["error"]["code"] == "body_timeout", body
    assert body["error"]["type"] == "timeout_error" and body["error"]["request_id"] == headers["x-request-id"]
    assert BODY_TIMEOUT <= took < BOUND, took
    assert _closed(sock)  # the slot and the connection are given back


def test_a_content_length_larger_than_what_is_sent_gets_a_json_408(edge, send):
    head = _post_head(PREFIX + "/v1/translate", edge.http_port, "Content-Length: 1000")
    sock, t0 = send(edge.http_port, head, b'{"text": "hello", ')
    status, _, body = _answer(sock)
    assert status == 408 and body["error"]["code"] == "body_timeout"
    assert time.monotonic() - t0 < BOUND and _closed(sock)


def test_a_stream_is_ended_at_the_request_deadline_whatever_the_client_asked(edge):
    chat = {
        "model": "edge",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": LONG,
        "ignore_eos": True,
        "stream": True,
    }
    t0 = time.monotonic()
    with httpx.stream(
        "POST",
        edge.url + PREFIX + "/v1/chat/completions",
        json=chat,
        timeout=BOUND + 30,
        headers={"x-request-timeout-seconds": "86400"},
    ) as r:
        assert r.status_code == 200
        events = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
    assert time.monotonic() - t0 < BOUND
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == "timeout", events[-3:]
    tokens = sum(1 for e in events[:-2] if json.loads(e)["choices"] and json.loads(e)["choices"][0]["delta"])
    assert tokens < LONG  # cut, not finished


# -- headers, Host, Origin, request ids (Python proxy) -----------------------------------------------


def test_security_headers_on_the_page_and_the_api(edge):
    for path in ("/", "/v1/models", "/v1/no-such-route"):
        h = httpx.get(edge.url + PREFIX + path, timeout=30).headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY", path
        assert h["referrer-policy"] == "no-referrer", path
        csp = h["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp, path


def test_a_foreign_host_is_refused_and_addresses_and_localhost_served(edge):
    url = edge.url + PREFIX + "/v1/models"
    r = httpx.get(url, headers={"host": "rebind.attacker.example"}, timeout=30)
    assert r.status_code == 421 and r.json()["error"]["code"] == "host_not_allowed"
    assert "attacker" not in r.text
    for host in (f"localhost:{edge.http_port}", f"127.0.0.1:{edge.http_port}"):
        assert httpx.get(url, headers={"host": host}, timeout=30).status_code == 200, host


def test_cross_site_form_posts_are_refused_and_same_origin_ones_served(edge):
    url = edge.url + PREFIX + "/v1/translate/file"
    form = {"files": {"file": ("note.txt", "你好。".encode())}, "data": {"target_lang": "en", "source_lang": "zh"}}
    r = httpx.post(
        url, headers={"origin": "https://attacker.example", "sec-fetch-site": "cross-site"}, timeout=60, **form
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
    own = httpx.post(url, headers={"origin": edge.url, "sec-fetch-site": "same-origin"}, timeout=60, **form)
    assert own.status_code == 200, own.text
    assert "note" in own.headers["content-disposition"] and own.content
    assert httpx.post(url, timeout=60, **form).status_code == 200  # SDKs and curl send no Origin


def test_a_6000_character_request_id_is_replaced_in_fanyis_answers(edge):
    sent = "a" * 6000
    r = httpx.post(
        edge.url + PREFIX + "/v1/chat/completions",
        json={"model": "edge", "messages": []},
        headers={"x-request-id": sent},
        timeout=30,
    )
    assert r.status_code == 400
    rid = r.json()["error"]["request_id"]
    assert rid != sent and len(rid) <= 128 and "aaaaaaaa" not in r.text
    kept = httpx.get(edge.url + PREFIX + "/v1/nope", headers={"x-request-id": "trace-42.a:b"}, timeout=30)
    assert kept.json()["error"]["request_id"] == "trace-42.a:b" == kept.headers["x-request-id"]


def test_edge_refusals_are_counted(edge):
    text = httpx.get(edge.url + PREFIX + "/metrics", timeout=30).text
    for reason in ("slow_body", "bad_host", "cross_site", "timeout"):
        assert f'reason="{reason}"' in text, reason


# -- behind HAProxy (cluster/haproxy_edge.py) --------------------------------------------------------


def test_incomplete_headers_are_cut_off_by_haproxy(haproxy_edge, send):
    sock, t0 = send(haproxy_edge.http_port, "GET /v1/models HTTP/1.1\nHost: 127.0.0.1\nX-Slow: ")
    sock.settimeout(0.5)
    received = b""
    while time.monotonic() - t0 < BOUND:  # a byte now and then, as a slowloris client does
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            sock.sendall(b"x")
            continue
        received += chunk
        if not chunk:
            break
    took = time.monotonic() - t0
    assert received.startswith(b"HTTP/1.1 408"), received[:100]
    assert HEADER_TIMEOUT <= took < BOUND, took


def test_slow_bodies_get_a_json_408_through_haproxy(haproxy_edge, send):
    port = haproxy_edge.http_port
    small = _post_head("/v1/translate", port, "Content-Length: 100")  # waits in HAProxy's buffer
    large = _post_head("/v1/translate", port, "Content-Length: 100000")  # reaches the router's deadline
    for head, body in ((small, b'{"text": '), (large, b'{"text": "' + b"x" * 20000)):
        sock, t0 = send(port, head, body)
        status, _, answer = _answer(sock)
        assert status == 408 and answer["error"]["code"] == "body_timeout", answer
        assert time.monotonic() - t0 < BOUND


def test_haproxy_replaces_a_request_id_that_is_not_plain(haproxy_edge):
    r = httpx.get(haproxy_edge.url + "/v1/nope", headers={"x-request-id": "<b>" + "a" * 6000}, timeout=30)
    assert r.status_code == 404
    rid = r.headers["x-request-id"]
    assert len(rid) <= 128 and "<b>" not in rid and r.json()["error"]["request_id"] == rid
    assert r.headers["x-frame-options"] == "DENY"
