"""The gate's HTTP edge at the ASGI level, without Ray: body deadline, the request's whole lifetime,
security headers, Host allow-list, cross-site posts and request ids. A real FastAPI app with the
gate in front, its settings built from an app config by `GateSettings.from_config`; requests go
through httpx's ASGI transport, or straight into the app where a client must send its body slowly
or read a stream that never ends. The same cases over real sockets: tests/integration/test_edge.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import ray.serve.context  # noqa: F401  the gate reads Serve's request id there; a first import takes seconds
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from app.api.auth import KeyRing
from app.api.edge import host_name
from app.api.gate import Gate, GateSettings
from app.api.metrics import RouterMetrics
from app.api.rate_limit import RateLimiter
from app.config import ConfigError, load_config

BOUND = 5.0  # seconds a refused request may take here at most; the configured deadlines are far below
LONG_ID = "a" * 6000


def _app(**config) -> tuple[FastAPI, RouterMetrics]:
    limits = {
        "body_read_timeout_s": 0.3,
        "request_timeout_s": 0.5,
        "max_request_duration_s": 1.0,
        **config.pop("limits", {}),
    }
    settings = load_config({"models": [{"name": "m", "source": "m"}], "limits": limits, **config})
    app = FastAPI()
    metrics = RouterMetrics("r1")
    app.add_middleware(
        Gate,
        settings=GateSettings.from_config(
            settings, KeyRing.from_config(settings.auth, environ={}), RateLimiter(), metrics
        ),
    )

    @app.get("/v1/models")
    async def models(request: Request) -> dict:
        return {"request_id": request.headers.get("x-request-id")}

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>fanyi</title>")

    @app.get("/framed")
    async def framed() -> JSONResponse:
        return JSONResponse({}, headers={"x-frame-options": "SAMEORIGIN"})

    @app.post("/v1/echo")
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    @app.post("/v1/translate/file")
    async def upload(file: UploadFile = File(), target_lang: str = Form()) -> dict:
        return {"name": file.filename, "target": target_lang}

    @app.get("/v1/stream")
    async def stream() -> StreamingResponse:
        async def events():
            while True:
                yield b'data: {"choices": []}\n\n'
                await asyncio.sleep(0.05)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/silent")
    async def silent() -> dict:
        await asyncio.sleep(3600)
        return {}

    return app, metrics


def _get(app: FastAPI, path: str, method: str = "GET", **kwargs) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(asyncio.wait_for(go(), BOUND))


def _scope(method: str, path: str, headers: dict[str, str]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1:8000", **headers}.items()],
    }


async def _call(
    app: FastAPI, scope: dict, chunks: list[bytes], then_wait: bool = True, read_for: float | None = None
) -> tuple[list[dict], float]:
    """Send `chunks` as the body, then (then_wait) never the rest, as a stalled client does; collect what
    the app sends, for at most `read_for` seconds after the answer started (a stream that never ends)."""
    pending = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    if not then_wait:
        pending.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict] = []
    started = asyncio.Event()

    async def receive():
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)  # the client sends nothing more and stays connected

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.start":
            started.set()

    t0 = time.monotonic()
    task = asyncio.ensure_future(app(scope, receive, send))
    if read_for is None:
        await asyncio.wait_for(task, BOUND)
    else:
        await asyncio.wait_for(started.wait(), BOUND)
        await asyncio.wait({task}, timeout=read_for)
        task.cancel()
    return sent, time.monotonic() - t0


def _status_and_body(sent: list[dict]) -> tuple[int, dict, dict]:
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], json.loads(body), headers


# -- slow bodies and deadlines ------------------------------------------------------------------------


def test_a_chunked_body_that_never_ends_gets_a_json_408_and_the_connection_closed():
    app, metrics = _app()
    scope = _scope(
        "POST",
        "/v1/echo",
        {"transfer-encoding": "chunked", "content-type": "application/json", "x-request-timeout-seconds": "86400"},
    )
    sent, took = asyncio.run(_call(app, scope, [b'{"text": "', b"hello"]))
    status, body, headers = _status_and_body(sent)
    assert status == 408 and body["error"]["code"] == "body_timeout" and body["error"]["type"] == "timeout_error"
    assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"
    assert 0.3 <= took < 2.0
    assert 'reason="slow_body"' in metrics.render().decode()


def test_a_content_length_larger_than_what_is_sent_gets_408():
    app, _ = _app()
    scope = _scope("POST", "/v1/echo", {"content-length": "1000", "content-type": "application/json"})
    sent, took = asyncio.run(_call(app, scope, [b"x" * 100]))
    status, body, _ = _status_and_body(sent)
    assert status == 408 and "0.3 s" in body["error"]["message"] and took < 2.0


def test_a_body_sent_in_pieces_within_the_deadline_reaches_the_route_whole():
    app, _ = _app()
    scope = _scope("POST", "/v1/echo", {"transfer-encoding": "chunked"})
    sent, _ = asyncio.run(_call(app, scope, [b"a" * 700, b"b" * 300], then_wait=False))
    status, body, _ = _status_and_body(sent)
    assert status == 200 and body == {"bytes": 1000}


def test_a_stream_past_max_request_duration_is_ended_with_a_timeout_event_whatever_the_client_asked():
    app, metrics = _app()
    scope = _scope("GET", "/v1/stream", {"x-request-timeout-seconds": "86400"})
    sent, took = asyncio.run(_call(app, scope, [], then_wait=False, read_for=4.0))
    assert sent[0]["status"] == 200 and 1.0 <= took < 3.0
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    events = b"".join(m.get("body", b"") for m in sent[1:]).split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    last = json.loads(events[-3].removeprefix(b"data: "))
    assert last["error"]["code"] == "timeout" and last["error"]["request_id"]
    assert 'reason="timeout"' in metrics.render().decode()


def test_no_answer_is_a_json_504_whatever_the_client_asked():
    app, _ = _app()
    t0 = time.monotonic()
    r = _get(app, "/v1/silent", headers={"x-request-timeout-seconds": "0"})  # 0: "no timeout" to Serve
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout" and time.monotonic() - t0 < 2.0


# -- headers -----------------------------------------------------------------------------------------


def test_security_headers_on_the_page_the_api_errors_and_docs():
    app, _ = _app()
    for path in ("/", "/v1/models", "/no-such-route"):
        h = _get(app, path).headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY", path
        assert h["referrer-policy"] == "no-referrer", path
        assert "script-src 'self';" in h["content-security-policy"], path
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
    assert _get(app, "/framed").headers["x-frame-options"] == "SAMEORIGIN"  # a route's own value wins
    docs = _get(app, "/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs.text  # what the docs CSP allows is what FastAPI's page loads


def test_security_headers_are_configurable():
    app, _ = _app(security={"headers": {"Strict-Transport-Security": "max-age=63072000", "referrer-policy": ""}})
    h = _get(app, "/v1/models").headers
    assert h["strict-transport-security"] == "max-age=63072000" and "referrer-policy" not in h
    assert h["x-frame-options"] == "DENY"


# -- Host and Origin ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "10.1.2.3", "192.168.0.7:31000", "localhost."],
)
def test_loopback_and_address_hosts_are_served(host):
    app, _ = _app()
    assert _get(app, "/v1/models", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8000",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "1:2::3",
        "[::1]x",
        "localhost:http",
    ],
)
def test_other_hosts_get_421_before_anything_else(host):
    app, metrics = _app()
    r = _get(app, "/v1/models", headers={"host": host})
    assert r.status_code == 421 and r.json()["error"]["code"] == "host_not_allowed"
    assert host not in r.text and r.headers["x-frame-options"] == "DENY"
    assert 'reason="bad_host"' in metrics.render().decode()


def test_allowed_hosts_take_names_and_wildcards():
    app, _ = _app(security={"allowed_hosts": ["fanyi.example.org", "*.corp.example"], "allow_ip_hosts": False})
    ok = ["fanyi.example.org", "FANYI.example.org:443", "mt.corp.example", "a.b.corp.example:8000"]
    refused = ["corp.example", "localhost", "127.0.0.1:8000", "example.org"]
    assert [_get(app, "/v1/models", headers={"host": h}).status_code for h in ok] == [200] * len(ok)
    assert [_get(app, "/v1/models", headers={"host": h}).status_code for h in refused] == [421] * len(refused)
    assert _get(_app(security={"allowed_hosts": ["*"]})[0], "/", headers={"host": "any.thing"}).status_code == 200


def _upload(app: FastAPI, **headers) -> httpx.Response:
    return _get(
        app,
        "/v1/translate/file",
        "POST",
        headers=headers,
        files={"file": ("a.txt", b"hello")},
        data={"target_lang": "de"},
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:9999"},
        {"origin": "http://localhost:8000", "sec-fetch-site": "same-site"},
    ],
)
def test_cross_site_form_posts_are_refused(headers):
    app, metrics = _app()
    r = _upload(app, **headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
    assert 'reason="cross_site"' in metrics.render().decode()


@pytest.mark.parametrize(
    "headers",
    [
        {},  # SDKs, curl
        {"origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"},  # the web page
        {"origin": "http://127.0.0.1:8000"},  # a browser without Fetch Metadata
        {"sec-fetch-site": "same-origin"},
    ],
)
def test_same_origin_and_non_browser_posts_pass(headers):
    app, _ = _app()
    r = _upload(app, **headers)
    assert r.status_code == 200 and r.json() == {"name": "a.txt", "target": "de"}


def test_allowed_origins_may_post_and_anyone_may_get():
    app, _ = _app(security={"allowed_origins": ["https://tools.example.org/"]})
    assert _upload(app, origin="https://tools.example.org", **{"sec-fetch-site": "cross-site"}).status_code == 200
    assert _upload(app, origin="https://other.example.org").status_code == 403
    assert (
        _get(app, "/v1/models", headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"}).status_code
        == 200
    )


# -- request ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [LONG_ID, "<script>alert(1)</script>", "id with spaces", "ok\u00e9"])
def test_request_ids_that_are_not_plain_are_replaced(sent, caplog):
    app, _ = _app()
    caplog.set_level("INFO", logger="fanyi.gate")
    headers = {"x-request-id": sent.encode()}
    ok = _get(app, "/v1/models", headers=headers)
    refused = _get(app, "/v1/models", headers={**headers, "host": "evil.example"})
    for rid in (ok.json()["request_id"], refused.json()["error"]["request_id"]):
        assert rid != sent and 1 <= len(rid) <= 128 and rid.replace("-", "").isalnum()
    assert "alert" not in refused.text and "aaaaaaaaaa" not in refused.text
    assert "aaaaaaaaaa" not in caplog.text and "<script>" not in caplog.text
    assert ok.json()["request_id"] in caplog.text  # the replacement is logged, to follow the request


def test_plain_request_ids_are_kept():
    app, _ = _app()
    rid = "trace-01HZX9.abc:42"
    assert _get(app, "/v1/models", headers={"x-request-id": rid}).json() == {"request_id": rid}
    refused = _get(app, "/v1/models", headers={"x-request-id": rid, "host": "evil.example"})
    assert refused.json()["error"]["request_id"] == rid


# -- config ------------------------------------------------------------------------------------------


def test_host_name_parsing():
    assert host_name("LocalHost:8000") == "localhost" and host_name("[::1]:80") == "::1"
    assert host_name("example.org.") == "example.org" and host_name("a:b") is None and host_name(":80") is None


@pytest.mark.parametrize(
    "security",
    [
        {"allowed_hosts": ["bad host"]},
        {"allowed_origins": ["evil.example"]},
        {"headers": {"x-bad": "a\r\nb"}},
        {"allowed_hostz": []},
    ],
)
def test_bad_security_settings_are_named(security):
    with pytest.raises(ConfigError, match="args.security"):
        load_config({"models": [{"name": "m", "source": "m"}], "security": security})


def test_request_timeout_may_not_exceed_the_whole_request_deadline():
    with pytest.raises(ConfigError, match="max_request_duration_s"):
        load_config(
            {
                "models": [{"name": "m", "source": "m"}],
                "limits": {"request_timeout_s": 600, "max_request_duration_s": 300},
            }
        )
