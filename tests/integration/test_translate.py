"""The translation service over real HTTP: /v1/translate (JSON and SSE), /v1/translate/file and
/v1/languages against the real app (tiny random models, so the words are gibberish but every step,
from segmentation to post-processing, runs for real)."""

from __future__ import annotations

import io
import json

import httpx
import pytest

pytestmark = pytest.mark.integration

ZH = "今天天气很好。我们去公园散步吧！"


def _post(base_url, **body) -> httpx.Response:
    # Sampling: the tiny random model's greedy answer is often nothing but line breaks.
    body = {"model": "tiny", "target_lang": "en", "temperature": 1.0, **body}
    return httpx.post(base_url + "/v1/translate", json=body, timeout=180)


def test_languages_listed(base_url):
    data = httpx.get(base_url + "/v1/languages").json()["data"]
    codes = {d["code"] for d in data}
    assert {"en", "zh", "zh-Hans", "zh-Hant", "de", "ja", "fr"} <= codes


def test_translate_text_detects_source_and_answers_json(base_url):
    resp = _post(base_url, text=ZH)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "translation" and body["source_lang"] == "zh" and body["target_lang"] == "en"
    assert body["text"] and len(body["translations"]) == 1 and body["translations"][0]["text"] == body["text"]
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["prompt_tokens"] > 0
    assert resp.headers["x-request-id"]  # Serve's id, also in its logs


def test_segments_stay_aligned_and_structure_survives(base_url):
    segments = [
        "Visit https://example.com/docs?id=7 for details.",
        "",
        "1. First step\n2. Second step",
        "Write to help@example.org now.",
        "Run `make test` before pushing.",
    ]
    body = _post(base_url, segments=segments, source_lang="en", target_lang="de").json()
    out = [t["text"] for t in body["translations"]]
    assert len(out) == len(segments) and body["text"] is None
    assert out[1] == ""
    assert "https://example.com/docs?id=7" in out[0]  # placeholders come back, even if the model drops them
    assert out[2].startswith("1. ") and "\n2. " in out[2]  # numbering and line breaks are kept
    assert "help@example.org" in out[3] and "`make test`" in out[4]


def test_html_markup_survives(base_url):
    html = '<p>Hello <b>dear</b> <a href="https://x.org">friend</a>.</p>\n<p>Good morning!</p>'
    text = _post(base_url, text=html, format="html", source_lang="en").json()["text"]
    for tag in ("<p>", "</p>", "<b>", "</b>", '<a href="https://x.org">', "</a>"):
        assert tag in text
    assert text.count("<p>") == 2 and "\n" in text


def test_glossary_is_checked(base_url):
    # A required translation no model produces by chance: either the model copied the source term
    # (the tiny model's vocabulary has it) and the check replaced it, or the check flags it missing.
    body = _post(base_url, text="今天天气很好。", glossary={"天气": "Wetterlage-XQ"}).json()
    flags = body["translations"][0]["flags"]
    if "Wetterlage-XQ" in body["text"]:
        assert "glossary_repaired:天气" in flags and "天气" not in body["text"]
    else:
        assert "glossary_missing:天气" in flags


def test_memory_hits_skip_the_engine(base_url):
    # Only greedy, unflagged answers are remembered: the tiny adapter's to its training sentences are.
    text = "我们明天见第5次。"
    first = _post(base_url, text=text, source_lang="zh", model="tiny-zh", temperature=0.0).json()
    second = _post(base_url, text=text, source_lang="zh", model="tiny-zh", temperature=0.0).json()
    assert first["cached"] == 0 and second["cached"] >= 1
    assert second["usage"]["completion_tokens"] == 0 and second["usage"]["prompt_tokens"] == 0
    assert second["text"] == first["text"]
    metrics = httpx.get(base_url + "/metrics").text
    assert "fanyi_translation_memory_total{" in metrics and 'result="hit"' in metrics


def test_streamed_translation_is_ordered(base_url):
    text = "\n\n".join(f"Paragraph {i} talks about the weather." for i in range(5))
    events = []
    with httpx.stream(
        "POST",
        base_url + "/v1/translate",
        timeout=180,
        json={"model": "tiny", "text": text, "target_lang": "fr", "source_lang": "en", "stream": True},
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    deltas = "".join(e["text"] for e in events if e["type"] == "delta")
    done = events[-1]
    assert done["type"] == "done" and deltas == done["text"]
    assert done["text"].count("\n\n") == 4  # paragraph breaks kept, in order


@pytest.mark.parametrize(
    "body, code",
    [
        ({"text": "   "}, None),
        ({"text": "hi", "target_lang": "klingon"}, "unsupported_language"),
        ({"segments": ["a"] * 300}, None),
        ({"text": "a", "segments": ["b"]}, None),
        ({"text": "hi", "model": "nope"}, "model_not_found"),
    ],
)
def test_bad_translate_requests(base_url, body, code):
    resp = _post(base_url, **body)
    assert resp.status_code in (400, 404)
    error = resp.json()["error"]
    assert error["message"] and (code is None or error["code"] == code)
    if code == "unsupported_language":
        assert "zh-Hant" in error["message"] and error["param"] == "target_lang"  # lists the valid codes


def test_segment_beyond_context_is_400(base_url):
    # 400 rare characters: ~3 byte-level tokens each, over the tiny model's 1024-token context.
    resp = _post(base_url, segments=["龘" * 400], source_lang="zh")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "context_length_exceeded"


SRT = "1\n00:00:01,000 --> 00:00:03,000\nHello there.\n\n2\n00:00:04,000 --> 00:00:06,500\nHow are you?\nFine.\n"


def _docx() -> bytes:
    import docx

    doc = docx.Document()
    doc.add_heading("Report", level=1)
    doc.add_paragraph("The weather is nice today.")
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Left cell", "Right cell"
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _upload(base_url, name: str, data: bytes, **fields) -> httpx.Response:
    form = {"target_lang": "de", "source_lang": "en", "model": "tiny", **fields}
    return httpx.post(base_url + "/v1/translate/file", files={"file": (name, data)}, data=form, timeout=300)


def test_srt_round_trip_keeps_timings(base_url):
    resp = _upload(base_url, "talk.srt", SRT.encode())
    assert resp.status_code == 200, resp.text
    assert 'filename="talk.de.srt"' in resp.headers["content-disposition"]
    out = resp.content.decode()
    assert "00:00:01,000 --> 00:00:03,000" in out and "00:00:04,000 --> 00:00:06,500" in out
    assert out.split("\n")[0] == "1" and "\n\n2\n" in out


def test_txt_md_html_round_trips(base_url):
    txt = "First paragraph here.\n\nSecond paragraph,\nwith two lines.\n"
    out = _upload(base_url, "a.txt", txt.encode()).content.decode()
    assert out.count("\n\n") == 1 and out.endswith("\n")
    md = "# Title\n\n- item one\n- item two\n\n```\ncode stays\n```\n"
    out = _upload(base_url, "b.md", md.encode()).content.decode()
    assert out.startswith("# ") and "\n- " in out and "```\ncode stays\n```" in out
    html = "<html><head><title>Hi</title><script>var x = 1;</script></head><body><p>Hello <b>you</b></p></body></html>"
    out = _upload(base_url, "c.html", html.encode()).content.decode()
    assert "<script>var x = 1;</script>" in out and "<b>" in out and out.startswith("<html><head><title>")


def test_docx_round_trip_keeps_structure(base_url):
    import docx

    resp = _upload(base_url, "report.docx", _docx())
    assert resp.status_code == 200, resp.text
    doc = docx.Document(io.BytesIO(resp.content))
    assert [p.style.name for p in doc.paragraphs][:2] == ["Heading 1", "Normal"]
    assert len(doc.tables) == 1 and len(doc.tables[0].columns) == 2


@pytest.mark.parametrize(
    "name, data, status",
    [
        ("x.exe", b"MZ...", 400),
        ("bad.txt", b"\xff\xfe\xfa broken", 400),
        ("big.txt", b"a" * 300_000, 413),
        ("broken.docx", b"PK not a zip", 400),
        ("bad.srt", b"not a subtitle", 400),
    ],
)
def test_bad_uploads(base_url, name, data, status):
    resp = _upload(base_url, name, data)
    assert resp.status_code == status
    assert resp.json()["error"]["message"]
