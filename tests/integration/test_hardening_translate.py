"""The translation path under attack (issue 14), over real HTTP against the real app: a failing piece
ends its request at once, the translation memory serves only what the same request would get again,
glossaries are bounded and cannot inject markup or hit placeholders, and planning a large request
leaves the router's event loop free.

The tiny LoRA adapter (`tiny-zh`) answers its training sentences ("我们明天见第{i}次。") greedily with a
clean "See you tomorrow, time 2.", so its answers are what the memory stores, and a glossary term in
the source that its answer copies is repaired in. The bare tiny model's greedy answer is empty.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.conftest import _wait_http, app_config

pytestmark = pytest.mark.integration

XSS = "<img src=x onerror=alert(1)>"
PROMPT_S = 60  # a failing request ends well within this; before the fix such requests hung 600 s


def _translate(base_url: str, **body) -> httpx.Response:
    body = {"model": "tiny-zh", "source_lang": "zh", "target_lang": "en", "temperature": 0.0, **body}
    return httpx.post(base_url + "/v1/translate", json=body, timeout=PROMPT_S)


def _upload(base_url: str, name: str, data: bytes, **form) -> httpx.Response:
    form = {"model": "tiny-zh", "source_lang": "zh", "target_lang": "en", **form}
    return httpx.post(base_url + "/v1/translate/file", files={"file": (name, data)}, data=form, timeout=PROMPT_S)


def _error(r: httpx.Response, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    assert param is None or err["param"] == param
    assert code is None or err["code"] == code
    return err


# -- every piece resolves ----------------------------------------------------------------------------

# The second segment is past the tiny model's context: the replica refuses that piece.
FAILING = {"model": "tiny", "source_lang": "zh", "segments": ["今天天气很好。", "龘" * 400]}


def test_a_failing_piece_ends_the_request_promptly(base_url):
    _error(_translate(base_url, **FAILING), 400, code="context_length_exceeded")
    started, events = time.monotonic(), []
    with httpx.stream(
        "POST", base_url + "/v1/translate", timeout=PROMPT_S, json={"target_lang": "en", "stream": True, **FAILING}
    ) as resp:
        assert resp.status_code == 200  # the header went out before the piece failed
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert time.monotonic() - started < PROMPT_S
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == "context_length_exceeded"
    assert [json.loads(e).get("index") for e in events[:-2] if json.loads(e).get("type") == "segment"] == [0]


def test_a_file_glossary_with_a_lone_surrogate_is_refused_not_hung(base_url):
    # JSON's escape decodes to a lone surrogate; it reached the memory key, whose encoding raised outside
    # the piece's error handling: the upload hung until Serve's timeout.
    r = _upload(base_url, "a.txt", "我们明天见第9次。\n".encode(), glossary='{"我们": "\\udfff"}')
    _error(r, 400, param="glossary")


# -- the translation memory ----------------------------------------------------------------------------


def test_a_sampled_translation_is_not_served_to_a_greedy_request(base_url):
    text = "我们明天见第41次。"
    sampled = _translate(base_url, text=text, temperature=2.0).json()
    greedy = _translate(base_url, text=text).json()
    assert greedy["cached"] == 0 and greedy["usage"]["completion_tokens"] > 0, (sampled, greedy)
    again = _translate(base_url, text=text).json()  # a greedy answer is remembered
    assert again["cached"] == 1 and again["text"] == greedy["text"] and again["usage"]["completion_tokens"] == 0


def test_an_html_translation_is_not_served_to_a_plain_request(base_url):
    text = "我们明天见第42次。"
    html = _translate(base_url, text=text, format="html").json()
    plain = _translate(base_url, text=text).json()
    assert html["cached"] == 0 and plain["cached"] == 0, (html, plain)
    assert _translate(base_url, text=text, format="html").json()["cached"] == 1


# -- glossaries ----------------------------------------------------------------------------------------


def test_a_glossary_value_lands_escaped_in_an_html_upload(base_url):
    # The adapter's answer copies "tomorrow"; the glossary check puts the required translation there.
    r = _upload(
        base_url, "page.html", "<p>我们明天见第3次。tomorrow</p>".encode(), glossary=json.dumps({"tomorrow": XSS})
    )
    assert r.status_code == 200, r.text
    out = r.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "<img" not in out
    assert out.startswith("<p>") and out.endswith("</p>")


def test_placeholder_shaped_glossary_terms_are_400(base_url):
    # "⟦0⟧" -> "evil" replaced the URL's placeholder: the link was gone from the answer.
    r = _translate(base_url, text="我们明天见 https://example.com/a 第3次。", glossary={"⟦0⟧": "evil"})
    assert "placeholders" in _error(r, 400, param="glossary")["message"]
    r = _upload(base_url, "a.txt", "我们明天见第3次。\n".encode(), glossary=json.dumps({"x": "[[1]]"}))
    _error(r, 400, param="glossary")


def test_file_glossary_is_capped_like_the_json_one(base_url):
    terms = {f"term{i}": f"Begriff{i}" for i in range(201)}
    r = _upload(base_url, "a.txt", "我们明天见第3次。\n".encode(), glossary=json.dumps(terms))
    _error(r, 400, param="glossary")
    _error(_translate(base_url, text="我们明天见第3次。", glossary=terms), 400, param="glossary")
    r = _upload(base_url, "a.txt", "我们明天见第3次。\n".encode(), glossary=json.dumps({"x" * 101: "y"}))
    _error(r, 400, param="glossary")


# -- planning off the event loop ------------------------------------------------------------------------

PREFIX = "/plan"
BIG_LINES = 200_000  # "a.\n" lines, 600 KB: seconds of segmenting, linear time or not


def plan_app(tiny_model) -> dict:
    """A second app whose limits let in a request that takes seconds to plan. The router's 3 s budget
    (504) or the segment limit, half its pieces (400), cuts it off: it never reaches the model."""
    model = {
        "name": "planner",
        "source": str(tiny_model),
        "device": "cpu",
        "engine": "transformers",
        "max_model_len": 1024,
        "deployment": {
            "num_cpus": 0.25,
            "num_replicas": 1,
            "health_check_period_s": 2,
            "graceful_shutdown_timeout_s": 5,
        },
    }
    return {
        "name": "fanyi-plan",
        "route_prefix": PREFIX,
        "import_path": "deployments.builder:build_app",
        "args": {
            "models": [model],
            "router": {"num_cpus": 0.1, "num_replicas": 1},
            "postprocessor": {"num_cpus": 0.1, "num_replicas": 1},
            "limits": {"max_request_bytes": 8 << 20, "max_segments": BIG_LINES // 2, "request_timeout_s": 3.0},
        },
    }


@pytest.fixture(scope="module")
def planner(cluster, tiny_model):
    session = app_config(tiny_model, cluster.http_port)
    cluster.deploy({**session, "applications": [*session["applications"], plan_app(tiny_model)]})
    url = cluster.url + PREFIX
    try:
        _wait_http(url + "/health", timeout=240)
        yield url
    finally:
        cluster.deploy(session)  # the second app goes, the session app is untouched


def test_health_answers_while_a_large_request_is_planned(planner):
    body = {"text": "a.\n" * BIG_LINES, "source_lang": "en", "target_lang": "de", "model": "planner"}
    answer: list[httpx.Response] = []
    sent = threading.Event()

    def big() -> None:
        sent.set()
        answer.append(httpx.post(planner + "/v1/translate", json=body, timeout=300))

    worker = threading.Thread(target=big)
    started = time.monotonic()
    worker.start()
    sent.wait()
    time.sleep(0.5)  # the body is sent and parsed; planning is under way
    probes = []
    while worker.is_alive():
        t0 = time.monotonic()
        r = httpx.get(planner + "/health", timeout=120)
        probes.append((time.monotonic() - t0, r.status_code))
        time.sleep(0.2)
    took = time.monotonic() - started
    worker.join()
    worst = max(seconds for seconds, _ in probes)
    print(f"\n/health during planning: worst {worst:.3f} s, {len(probes)} probes, request {took:.1f} s")
    assert worst < 1.0, f"/health took {worst:.2f} s while a request was planned ({took:.1f} s in all)"
    assert len(probes) >= 3, f"the request ended in {took:.1f} s, before /health could be probed: grow BIG_LINES"
    assert all(status == 200 for _, status in probes), probes
    # Cut off by the 3 s budget (504, on time) or by the segment limit (400): a JSON error either way.
    r = answer[0]
    assert r.status_code in (400, 504), r.text
    assert r.json()["error"]["code"] in ("timeout", "too_many_segments")
    if r.status_code == 504:
        assert took < 3.0 + 10, f"the 504 came after {took:.1f} s"
    # The app goes on serving translations.
    small = httpx.post(
        planner + "/v1/translate",
        timeout=PROMPT_S,
        json={"text": "Hello.", "source_lang": "en", "target_lang": "de", "model": "planner"},
    )
    assert small.status_code == 200, small.text
