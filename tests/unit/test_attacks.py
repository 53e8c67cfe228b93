"""Issue 14, findings 2 and 4: no input makes planning superlinear, and no .docx inflates unbounded.

Each adversarial input of app.bench.attacks is planned as the router plans it (files.extract or
documents.read, then Translator.plan over the units) in a forked process with a deadline, so a
regression fails in seconds instead of hanging the suite. The bounds are generous (this machine is shared); the exact figures
come from `python -m app.bench.plan_time`.
"""

from __future__ import annotations

import io
import multiprocessing
import time
import tracemalloc
import zipfile

import docx
import pytest

import app.files.docx
from app.bench.attacks import CATALOGUE, MIB, FileUpload
from app.bench.plan_time import plan_once
from app.errors import InvalidRequest
from app.files import FileTooLarge, UnsupportedFile, extract
from app.translate import documents

SIZE = MIB // 2
SECONDS = 3.0  # for half a MiB: six seconds a MiB, where the work before this fix took minutes


def _plan(name: str, size: int, conn) -> None:
    conn.send(plan_once(name, size, max_segments=2000, max_units=5000))


def plan_with_deadline(name: str, size: int, deadline: float):
    """bench_plan's measurement of one attack in a child process; None if it is still running at the deadline."""
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=_plan, args=(name, size, child), daemon=True)
    process.start()
    ready = parent.poll(deadline)
    if not ready:
        process.kill()
    process.join(5)
    return parent.recv() if ready else None


@pytest.mark.parametrize("name", [n for n in CATALOGUE if not n.startswith("docx")])
def test_adversarial_input_plans_in_bounded_time(name):
    result = plan_with_deadline(name, SIZE, deadline=4 * SECONDS)
    assert result is not None, f"{name}: planning half a MiB still ran after {4 * SECONDS:g} s"
    assert result.seconds < SECONDS, f"{name}: {result.seconds:.2f} s for half a MiB"
    assert not result.outcome.startswith("500")


@pytest.mark.parametrize("name", ["plain-paragraph", "html-paragraph"])
def test_one_paragraph_of_5_mib_plans_in_bounded_time(name):
    result = plan_with_deadline(name, 5 * MIB, deadline=60)  # the HTML one took 107 s
    assert result is not None and result.seconds < 30, result
    assert result.outcome == "400 too_many_segments"  # refused, after linear work


def test_the_reported_digit_run_no_longer_freezes_planning():
    result = plan_with_deadline("run-digits", 24_000, deadline=10)  # took 7.2 s on the router's loop
    assert result is not None and result.seconds < 0.5, result


def test_docx_bomb_is_refused_with_bounded_memory():
    upload = CATALOGUE["docx-bomb"].request(256 * MIB)  # headers claim 1000 bytes
    assert len(upload.data) < 1 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(FileTooLarge, match="unpacks to more than") as refused:
            extract(upload.filename, upload.data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.status_code == 400
    assert peak < 48 * MIB, f"peak {peak / MIB:.0f} MiB while refusing a 256 MiB bomb"


def test_honest_docx_with_too_much_xml_is_refused_fast():
    upload = CATALOGUE["docx-empty"].request(10 * MIB)  # 16 KB of zip, 10 MiB of document.xml
    started = time.perf_counter()
    with pytest.raises(FileTooLarge, match="word/document.xml"):
        extract(upload.filename, upload.data)
    assert time.perf_counter() - started < 1


def test_docx_whose_headers_lie_within_the_caps_is_refused_as_damaged():
    upload = CATALOGUE["docx-bomb"].request(2 * MIB)  # inflates to 2 MiB, headers say 1000 bytes
    with pytest.raises(UnsupportedFile, match="damaged"):
        extract(upload.filename, upload.data)


def test_docx_is_parsed_once(monkeypatch):
    opened = []
    real = app.files.docx.Document
    monkeypatch.setattr(app.files.docx, "Document", lambda stream: opened.append(1) or real(stream))
    upload = CATALOGUE["docx-runs"].request(64 << 10)
    doc = extract(upload.filename, upload.data)
    first = doc.rebuild(["x"] * len(doc.units))
    second = doc.rebuild(["x"] * len(doc.units))
    assert len(opened) == 1  # read_docx parsed it; rebuilds reuse the parsed document
    texts = [[p.text for p in docx.Document(io.BytesIO(out)).paragraphs] for out in (first, second)]
    assert texts[0] == texts[1] == ["x "]  # the paragraph's trailing space stays out of the unit


def test_html_unit_limit_applies_while_tokenizing():
    upload = FileUpload("a.html", b"<p>Hi" * (4 * MIB // 5))
    started = time.perf_counter()
    with pytest.raises(FileTooLarge, match="more than 5000"):
        extract(upload.filename, upload.data, max_units=5000)
    assert time.perf_counter() - started < 1  # a few thousand tags, not four MiB of them


@pytest.mark.parametrize("text", ["<![ x", "<p>a<![foo bar]>b</p>", "<![", "x<![CDATA[y"])
def test_html_marked_sections_never_raise(text):
    texts = documents.read([text], "html", 2000)  # /v1/translate's reading; 3.11's parser raised AssertionError
    assert texts.docs[0].render_text([unit for unit, _ in texts.units]) == text
    doc = extract("a.html", text.encode())
    assert doc.rebuild([u.text for u in doc.units]) == text.encode()


def test_a_markdown_text_of_wordless_cells_is_refused_at_the_segment_limit():
    # A MiB of one-character table cells: half a million blocks with nothing to translate, which the
    # reader would parse and keep (seconds, hundreds of MiB) unless the segment limit stopped it.
    text = "| a |\n|---|\n" + "|1" * (MIB // 2) + "|\n"
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match="too many segments") as refused:
        documents.read([text], "markdown", 2000)
    assert refused.value.code == "too_many_segments" and time.perf_counter() - started < 1


def test_docx_compressed_other_than_word_does_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as archive:  # bzip2 inflates without a bound
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(UnsupportedFile, match="compressed in a way Word does not use"):
        extract("a.docx", out.getvalue())


def test_file_errors_stay_client_errors():
    for exc in (FileTooLarge("x"), UnsupportedFile("y")):
        assert isinstance(exc, InvalidRequest) and exc.status_code == 400
