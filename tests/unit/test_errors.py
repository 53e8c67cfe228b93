"""Error messages bounded and encodable, client errors logged as routine, and the router's exception
handlers answering OpenAI-shaped JSON whatever happens inside them (a FastAPI app with the Router's
handlers and routes that fail on purpose)."""

import json
import logging
import pickle

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api import protocol
from app.api.error_handlers import install_error_handlers
from app.api.error_map import to_client_error
from app.api.metrics import RouterMetrics
from app.errors import ContextLengthExceeded, EngineUnavailable, FanyiError, InvalidRequest, ModelNotFound

SURROGATE = "\ud800"


def test_long_messages_are_cut_with_an_ellipsis():
    err = InvalidRequest("x" * 100_000, param="p" * 5000)
    assert len(err.message) <= 1024 and err.message.endswith("…") and err.message.startswith("xxx")
    assert len(err.param) <= 256
    assert len(json.dumps(err.to_body())) < 2000
    again = pickle.loads(pickle.dumps(err))  # crosses Ray unchanged
    assert (again.message, again.param) == (err.message, err.param)
    assert InvalidRequest("short").message == "short"


def test_messages_and_params_are_always_encodable():
    err = ModelNotFound(f"The model 'x{SURROGATE}' does not exist", param=f"k{SURROGATE}")
    body = json.dumps(err.to_body(), ensure_ascii=False).encode("utf-8")  # what JSONResponse does
    assert b"x\\\\ud800" in body and err.param == "k\\ud800"


def test_client_errors_log_one_info_line_without_traceback(caplog):
    with caplog.at_level(logging.DEBUG, logger="fanyi.router"):
        for err in (ContextLengthExceeded("too long", param="max_tokens"), InvalidRequest("bad", param="seed")):
            assert to_client_error(err, "r1") is err
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert all(r.exc_info is None for r in caplog.records)
    assert "context_length_exceeded" in caplog.records[0].getMessage()


def test_server_errors_log_at_warning_or_error(caplog):
    with caplog.at_level(logging.DEBUG, logger="fanyi.router"):
        to_client_error(EngineUnavailable("restarting"), "r1")
        internal = to_client_error(RuntimeError("boom"), "r2")
    assert internal.status_code == 500 and "boom" not in internal.message
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.ERROR]
    assert caplog.records[1].exc_info is not None  # the unexpected one keeps its traceback


class _Strict(logging.Filter):
    """A log pipeline that fails on text it cannot encode, as Serve's did on a lone surrogate."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        text.encode("utf-8")
        return True


@pytest.fixture()
def strict_logs():
    handler = logging.StreamHandler()
    handler.addFilter(_Strict())
    log = logging.getLogger("fanyi.router")
    log.addHandler(handler)
    yield
    log.removeHandler(handler)


class _Unshapeable(FanyiError):
    status_code = 400

    def to_body(self) -> dict:
        raise RuntimeError("shaping failed")


@pytest.fixture()
def app() -> TestClient:
    """The Router's exception handlers on an app whose routes fail on purpose."""
    app = FastAPI()
    app.state.metrics = RouterMetrics("r1")
    install_error_handlers(app, app.state.metrics)

    @app.get("/unexpected")
    async def unexpected():
        raise RuntimeError(f"client text x{SURROGATE} in an internal error")

    @app.get("/unshapeable")
    async def unshapeable():
        raise _Unshapeable("x")

    @app.post("/chat")
    async def chat(body: protocol.ChatCompletionRequest):
        return {"model": body.model}

    return TestClient(app, raise_server_exceptions=False)


def _error(r) -> dict:
    assert r.headers["content-type"] == "application/json", r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    return err


def test_unexpected_error_is_json_even_when_logging_fails(app, strict_logs):
    r = app.get("/unexpected")
    assert r.status_code == 500 and _error(r)["code"] == "internal_error"
    assert "client text" not in r.text


def test_an_error_that_cannot_be_shaped_still_answers_json(app):
    r = app.get("/unshapeable")
    assert r.status_code == 500 and _error(r)["type"] == "internal_error"


def test_surrogate_model_is_a_400_naming_the_field_and_metrics_still_render(app, strict_logs):
    body = '{"model": "x\\ud800", "messages": [{"role": "user", "content": "hi"}]}'  # the JSON escape
    r = app.post("/chat", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and _error(r)["param"] == "model"
    assert "surrogate" in _error(r)["message"]
    assert b"fanyi_errors_total" in app.app.state.metrics.render()


def test_union_branches_are_dropped_from_the_param(app):
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]}
    r = app.post("/chat", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 400 and _error(r)["param"] == "messages.0.content.0.text"


def test_an_unknown_field_named_with_a_surrogate_or_15_kb_is_refused_briefly(app):
    for key in ("\\ud800", "k" * 15000):
        body = '{"messages": [{"role": "user", "content": "hi"}], "' + key + '": 1}'
        r = app.post("/chat", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and len(r.content) < 2000, r.text[:200]


def test_serves_request_failed_log_is_info_for_client_errors(caplog):
    from app.api.error_map import ClientErrorsAtInfo

    ClientErrorsAtInfo.install("test.serve")
    ClientErrorsAtInfo.install("test.serve")  # once per logger, however many replicas start
    log = logging.getLogger("test.serve")
    assert sum(isinstance(f, ClientErrorsAtInfo) for f in log.filters) == 1
    with caplog.at_level(logging.DEBUG, logger="test.serve"):
        for exc in (ContextLengthExceeded("prompt too long", param="prompt"), EngineUnavailable("down")):
            try:
                raise exc
            except FanyiError:
                log.exception("Request failed.")  # what Serve's replica does with anything raised
    client, server = caplog.records
    assert (client.levelno, client.exc_info) == (logging.INFO, None)
    assert "Request failed." in client.getMessage() and "context_length_exceeded" in client.getMessage()
    assert server.levelno == logging.ERROR and server.exc_info is not None
