"""API keys, rate limits, the request gate and the OpenAPI schema, without Ray (the gate runs in a
real FastAPI app over httpx's ASGI transport; the live versions are in tests/integration)."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from fastapi import FastAPI, Request

from app.api.auth import KeyRing, key_label
from app.api.gate import Gate, GateSettings
from app.api.metrics import RouterMetrics
from app.api.rate_limit import RateLimiter, current_principal
from app.config import load_config
from app.config.access import AuthConfig
from app.errors import RateLimited, Unauthorized

KEY, OTHER = "sk-test-0123456789", "sk-env-abcdefghij"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_from_config_and_environment_are_read_when_asked():
    auth = AuthConfig(api_keys=[KEY, {"key": "sk-named-key-000", "name": "batch"}], api_keys_env="FANYI_KEYS")
    ring = KeyRing.from_config(auth, environ={"FANYI_KEYS": f" {OTHER} ,,"})
    assert len(ring) == 3
    assert ring.check(f"Bearer {KEY}").label == key_label(KEY)
    assert ring.check(f"bearer  {OTHER}").label == key_label(OTHER)
    assert ring.check("Bearer sk-named-key-000").label == "batch"
    assert KEY not in key_label(KEY) and not KEY.startswith(key_label(KEY)[4:])


@pytest.mark.parametrize("header", [None, "", "Bearer", f"Basic {KEY}", "Bearer sk-wrong-0123456789", KEY])
def test_missing_or_wrong_keys_are_refused_without_echoing_them(header):
    ring = KeyRing.from_config(AuthConfig(api_keys=[KEY]), environ={})
    with pytest.raises(Unauthorized) as err:
        ring.check(header)
    assert err.value.status_code == 401 and "sk-" not in err.value.message


def test_no_keys_means_open_and_an_unset_env_var_adds_none():
    ring = KeyRing.from_config(AuthConfig(api_keys_env="UNSET_VAR", requests_per_minute=5), environ={})
    assert not ring.enabled
    assert ring.check(None).label == "anonymous" and ring.check(None).requests_per_minute == 5


def test_the_key_variable_is_forwarded_from_the_app_runtime_env_to_the_router_only():
    from app.api.auth import forwarded_key_env
    from cluster.placement import SERVE_THROUGHPUT_ENV, actor_options

    auth = AuthConfig(api_keys_env="FANYI_KEYS")
    app_env = {"env_vars": {"FANYI_KEYS": OTHER, "UNRELATED": "x"}, "working_dir": "."}
    assert forwarded_key_env(auth, app_env) == {"FANYI_KEYS": OTHER}
    assert forwarded_key_env(AuthConfig(), app_env) == {}  # no variable named
    assert forwarded_key_env(auth, {"env_vars": {"FANYI_KEYS": ""}}) == {} and forwarded_key_env(auth, None) == {}
    env = actor_options(0.5, forwarded_key_env(auth, app_env))["runtime_env"]["env_vars"]
    assert env == {**SERVE_THROUGHPUT_ENV, "FANYI_KEYS": OTHER}
    assert actor_options(0.5)["runtime_env"]["env_vars"] == SERVE_THROUGHPUT_ENV


def test_too_many_wire_segments_is_a_counted_segment_limit():
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    from app.api.error_handlers import install_error_handlers
    from app.api.protocol import MAX_SEGMENTS, TranslateRequest

    with pytest.raises(ValidationError) as bad:
        TranslateRequest.model_validate({"segments": ["a"] * (MAX_SEGMENTS + 1), "target_lang": "de"})
    exc = RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in bad.value.errors()])
    serving = FastAPI()
    install_error_handlers(serving, metrics := RouterMetrics("r1"))
    handler = serving.exception_handlers[RequestValidationError]
    r = asyncio.run(handler(Request({"type": "http", "app": serving, "headers": []}), exc))
    err = json.loads(r.body)["error"]
    assert r.status_code == 400 and err["code"] == "too_many_segments" and err["param"] == "segments"
    assert _rejected(metrics, "too_many_segments") == 1


def test_a_partial_router_block_keeps_the_router_out_of_the_way_of_backpressure():
    # Only the model queue's overflow is fanyi's JSON 503; a full Router queue is Serve's plain text.
    config = load_config(
        {"models": [{"name": "m", "source": "m"}], "router": {"num_cpus": 0.25}, "postprocessor": {"num_replicas": 2}}
    )
    assert (config.router.max_ongoing_requests, config.router.max_queued_requests) == (512, -1)
    assert (config.postprocessor.max_queued_requests, config.postprocessor.num_cpus) == (-1, 0.25)
    assert config.models[0].deployment.max_queued_requests > 0  # the bounded one


def test_auth_config_rejects_bad_fields_by_path():
    with pytest.raises(ValueError, match="args.auth.api_keys_env"):
        load_config({"models": [{"name": "m", "source": "m"}], "auth": {"api_keys_env": "not a name"}})
    with pytest.raises(ValueError, match="args.auth.requests_per_minute"):
        load_config({"models": [{"name": "m", "source": "m"}], "auth": {"requests_per_minute": 0}})
    assert KEY not in repr(AuthConfig(api_keys=[KEY]))


def test_requests_per_minute_bucket_bursts_then_refills():
    clock = Clock()
    limiter = RateLimiter(clock)
    who = KeyRing([], requests_per_minute=6).anonymous  # burst 6, one every 10 s
    for _ in range(6):
        limiter.admit(who)
    with pytest.raises(RateLimited) as err:
        limiter.admit(who)
    assert err.value.status_code == 429 and err.value.retry_after == 10
    clock.now += 10
    limiter.admit(who)


def test_tokens_are_charged_after_the_request_and_an_overdraft_waits():
    clock = Clock()
    limiter = RateLimiter(clock)
    who = KeyRing([], tokens_per_minute=600).anonymous  # 10 tokens/s
    limiter.admit(who)
    limiter.charge(who, 650)  # one big answer overdraws by 50 tokens
    with pytest.raises(RateLimited) as err:
        limiter.admit(who)
    assert err.value.retry_after == 5 and "tokens" in err.value.message
    clock.now += 5.1
    limiter.admit(who)


def test_keys_have_separate_buckets():
    limiter = RateLimiter(Clock())
    ring = KeyRing.from_config(AuthConfig(api_keys=[KEY, OTHER], requests_per_minute=1), environ={})
    limiter.admit(ring.check(f"Bearer {KEY}"))
    limiter.admit(ring.check(f"Bearer {OTHER}"))
    with pytest.raises(RateLimited):
        limiter.admit(ring.check(f"Bearer {KEY}"))


# -- the gate in a real FastAPI app -----------------------------------------------------------------


def _app(auth: AuthConfig, timeout: float | None = 5.0, clock=None) -> tuple[FastAPI, RouterMetrics]:
    app = FastAPI()
    metrics = RouterMetrics("r1")
    limiter = RateLimiter(clock or Clock())
    app.add_middleware(
        Gate,
        settings=GateSettings(
            keys=KeyRing.from_config(auth, environ={}),
            limiter=limiter,
            metrics=metrics,
            max_request_bytes=2048,
            max_file_bytes=4096,
            request_timeout_s=timeout,
            protect_metrics=auth.protect_metrics,
        ),
    )

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics_route():
        return {"ok": True}

    @app.post("/v1/echo")
    async def echo(request: Request):
        body = await request.body()
        metrics.observe_tokens("m", len(body), 0)  # as the serving code does after a generation
        limiter.charge_current(len(body))
        who = current_principal.get()
        return {"bytes": len(body), "who": who.label if who else None}

    @app.get("/v1/slow")
    async def slow():
        await asyncio.sleep(30)

    return app, metrics


def _get(app, method: str, path: str, **kw) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.request(method, path, **kw)

    return asyncio.run(go())


def _rejected(metrics: RouterMetrics, reason: str) -> float:
    return metrics.registry.get_sample_value("fanyi_rejected_requests_total", {"replica": "r1", "reason": reason}) or 0


def test_gate_401_shape_open_health_and_protected_metrics(caplog):
    app, metrics = _app(AuthConfig(api_keys=[KEY]))
    with caplog.at_level(logging.INFO, logger="fanyi.gate"):
        r = _get(app, "POST", "/v1/echo", content=b"{}", headers={"authorization": "Bearer sk-guess-000000"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    err = r.json()["error"]
    assert err["code"] == "invalid_api_key" and err["type"] == "invalid_request_error" and "request_id" in err
    assert "sk-guess" not in caplog.text and "unauthorized" in caplog.text
    assert _get(app, "GET", "/health").status_code == 200
    assert _get(app, "GET", "/metrics").status_code == 401
    ok = _get(app, "POST", "/v1/echo", content=b"{}", headers={"authorization": f"Bearer {KEY}"})
    assert ok.json() == {"bytes": 2, "who": key_label(KEY)}
    assert _rejected(metrics, "unauthorized") == 2
    open_metrics, _ = _app(AuthConfig(api_keys=[KEY], protect_metrics=False))
    assert _get(open_metrics, "GET", "/metrics").status_code == 200


def test_gate_charges_usage_to_the_caller_and_answers_429_with_retry_after():
    clock = Clock()
    app, metrics = _app(AuthConfig(api_keys=[KEY], tokens_per_minute=600), clock=clock)
    auth = {"authorization": f"Bearer {KEY}"}
    assert _get(app, "POST", "/v1/echo", content=b"x" * 700, headers=auth).status_code == 200
    r = _get(app, "POST", "/v1/echo", content=b"{}", headers=auth)
    assert r.status_code == 429 and r.headers["retry-after"] == "10"
    assert r.json()["error"]["code"] == "rate_limit_exceeded" and _rejected(metrics, "rate_limited") == 1
    clock.now += 10.5
    assert _get(app, "POST", "/v1/echo", content=b"{}", headers=auth).status_code == 200


def test_gate_refuses_large_bodies_declared_or_chunked():
    app, metrics = _app(AuthConfig())
    r = _get(app, "POST", "/v1/echo", content=b"x" * 3000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    async def chunks(count: int):  # no Content-Length: the gate counts what arrives
        for _ in range(count):
            yield b"x" * 1000

    assert _get(app, "POST", "/v1/echo", content=chunks(4)).status_code == 413
    assert _get(app, "POST", "/v1/echo", content=chunks(1)).json()["bytes"] == 1000
    assert _rejected(metrics, "too_large") == 2


def test_gate_times_out_before_the_answer_starts():
    app, metrics = _app(AuthConfig(), timeout=0.3)
    r = _get(app, "GET", "/v1/slow")
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
    assert _rejected(metrics, "timeout") == 1


# -- the OpenAPI schema -----------------------------------------------------------------------------


class _Handle:
    """Stands in for a model's DeploymentHandle: the schema needs no model."""

    def options(self, **_):
        return self


def test_openapi_documents_every_operation_with_its_errors():
    from app.api.app import create_app
    from app.api.server_state import ServerState

    config = load_config({"models": [{"name": "m", "source": "m"}]})
    api = create_app(ServerState.build(config, {"m": _Handle()}, None, replica="r1", status=dict))
    spec = api.openapi()
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert {p for p, _, _ in operations} >= {
        "/health",
        "/metrics",
        "/v1/models",
        "/v1/languages",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/translate",
        "/v1/translate/file",
    }
    error_ref = "#/components/schemas/ErrorResponse"
    for path, method, op in operations:
        responses = op["responses"]
        assert "200" in responses and responses["200"].get("content"), (path, method)
        assert "422" not in responses, (path, method)  # validation errors are OpenAI-style 400s
        for code in ("500", "504", "default"):
            assert responses[code]["content"]["application/json"]["schema"]["$ref"] == error_ref, (path, code)
        if method == "post":
            assert op["requestBody"]["content"], path
            for code in ("400", "401", "404", "413", "429", "503"):
                assert responses[code]["content"]["application/json"]["schema"]["$ref"] == error_ref, (path, code)
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/translate"):
        assert "text/event-stream" in spec["paths"][path]["post"]["responses"]["200"]["content"]
