"""File translation keeps structure: extract units, translate them with a fake, rebuild, compare."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from html.parser import HTMLParser

import docx
import pytest
from docx.enum.text import WD_BREAK

from app.errors import InvalidRequest
from app.files import SUPPORTED, FileTooLarge, TextStream, Unit, UnsupportedFile, extract, read_text


def wrap(text: str) -> str:
    """A fake translation that keeps line structure: every line becomes «line»."""
    return "\n".join(f"«{line}»" for line in text.split("\n"))


def shout(text: str) -> str:
    """A fake translation of an HTML unit: upper-case the text, keep tags and references as they are."""
    return re.sub(r"(<[^>]*>|&#?\w+;)|([^<&]+)", lambda m: m.group(1) or m.group(2).upper(), text)


def identity(name: str, data: bytes) -> bytes:
    doc = extract(name, data)
    return doc.rebuild([u.text for u in doc.units])


# ---------------------------------------------------------------- .txt

TXT = "Dear team,\r\nthe release is ready.\r\n\r\n\r\n    Indented note.  \r\n\r\nBye\r\n"


def test_txt_units_are_paragraphs():
    doc = extract("letter.txt", TXT.encode())
    assert doc.units == [
        Unit("Dear team,\nthe release is ready.", "plain"),
        Unit("Indented note.", "plain"),
        Unit("Bye", "plain"),
    ]


def test_txt_rebuild_keeps_lines_blank_lines_and_crlf():
    doc = extract("letter.txt", TXT.encode())
    out = doc.rebuild([wrap(u.text) for u in doc.units]).decode()
    assert out == ("«Dear team,»\r\n«the release is ready.»\r\n\r\n\r\n    «Indented note.»  \r\n\r\n«Bye»\r\n")


@pytest.mark.parametrize(
    "text", [TXT, TXT.replace("\r\n", "\n"), "no final newline\n\nlast", "", "\n\n  \n", "mixed\r\nendings\nhere\r"]
)
@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_txt_identity_is_byte_identical(text, bom):
    data = bom + text.encode()
    assert identity("a.txt", data) == data


def test_txt_extra_translated_lines_use_the_paragraph_newline():
    doc = extract("a.txt", b"one line\r\n\r\nlast")
    out = doc.rebuild(["first\nsecond", "x\ny"])
    assert out == b"first\r\nsecond\r\n\r\nx\r\ny"


def test_txt_bom_is_not_part_of_the_text():
    doc = extract("a.txt", codecs.BOM_UTF8 + "Привет".encode())
    assert doc.units == [Unit("Привет", "plain")]
    assert doc.rebuild(["Hello"]) == codecs.BOM_UTF8 + b"Hello"


def test_txt_invalid_utf8_is_rejected():
    with pytest.raises(UnsupportedFile, match="file is not valid UTF-8"):
        extract("a.txt", "café".encode("latin-1"))


def test_txt_binary_content_is_rejected():
    with pytest.raises(UnsupportedFile, match="NUL"):
        extract("a.txt", b"PK\x03\x04\x00\x00binary")


def test_whitespace_only_file_has_no_units():
    doc = extract("a.txt", b"  \n\n\t\n")
    assert doc.units == [] and doc.rebuild([]) == b"  \n\n\t\n"


# ---------------------------------------------------------------- .md

MD = """---
title: Fanyi guide
tags: [docs]
---
# Getting started #

Fanyi translates files. Read [the guide](https://example.com/guide "Guide")
for details.

- Install the *package*
- Run `fanyi serve`
  in a terminal
  1. Nested step

> Quoted advice.

```bash
# a comment that must not be translated
pip install fanyi
```

| Option | Meaning |
|--------|---------|
| `--port` | Port to listen on |

    indented code stays

[guide]: https://example.com/guide
"""


def test_markdown_units_are_blocks_without_their_markup():
    doc = extract("guide.md", MD.encode())
    assert [u.text for u in doc.units] == [
        "Getting started",
        'Fanyi translates files. Read [the guide](https://example.com/guide "Guide")\nfor details.',
        "Install the *package*",
        "Run `fanyi serve`\nin a terminal",
        "Nested step",
        "Quoted advice.",
        "Option",
        "Meaning",
        "`--port`",
        "Port to listen on",
    ]
    assert {u.fmt for u in doc.units} == {"markdown"}


def test_markdown_identity_is_byte_identical():
    assert identity("guide.md", MD.encode()) == MD.encode()
    crlf = MD.replace("\n", "\r\n").encode()
    assert identity("guide.md", crlf) == crlf


def test_markdown_rebuild_keeps_markup_code_and_front_matter():
    doc = extract("guide.md", MD.encode())
    out = doc.rebuild([wrap(u.text) for u in doc.units]).decode()
    assert out.startswith("---\ntitle: Fanyi guide\ntags: [docs]\n---\n# «Getting started» #\n")
    assert "```bash\n# a comment that must not be translated\npip install fanyi\n```\n" in out
    assert "- «Install the *package*»\n- «Run `fanyi serve`»\n  «in a terminal»\n  1. «Nested step»\n" in out
    assert "> «Quoted advice.»\n" in out
    assert "| «Option» | «Meaning» |\n|--------|---------|\n| «`--port`» | «Port to listen on» |\n" in out
    assert "\n    indented code stays\n" in out and out.endswith("[guide]: https://example.com/guide\n")
    # The file parses to the same block shape again: same number of units.
    assert len(extract("guide.md", out.encode()).units) == len(doc.units)


def test_markdown_extra_lines_never_break_a_heading_or_table_cell():
    doc = extract("a.md", b"## Title\n\n| a | b |\n|---|---|\n| c | d |\n")
    out = doc.rebuild(["Line one\nline two", "A\nB", "b", "c", "d"])
    assert out == b"## Line one line two\n\n| A B | b |\n|---|---|\n| c | d |\n"


def test_markdown_unclosed_fence_runs_to_the_end():
    text = "Intro\n\n```\ncode line\n\nmore code\n"
    doc = extract("a.md", text.encode())
    assert [u.text for u in doc.units] == ["Intro"]
    assert doc.rebuild(["Einleitung"]) == text.replace("Intro", "Einleitung").encode()


# ---------------------------------------------------------------- .srt

SRT = (
    "1\n00:00:01,000 --> 00:00:04,000\nHello there.\n\n"
    "2\n00:00:05,500 --> 00:00:08,250\nThis cue has\ntwo lines.\n\n"
    "3\n00:01:10,000 --> 00:01:12,000 X1:40 X2:600\n<i>Goodbye!</i>\n"
)


def srt_headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if "-->" in line or line.strip().isdigit()]


def test_srt_units_are_cue_texts():
    doc = extract("movie.srt", SRT.encode())
    assert doc.units == [
        Unit("Hello there.", "plain"),
        Unit("This cue has\ntwo lines.", "plain"),
        Unit("<i>Goodbye!</i>", "plain"),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_srt_identity_is_byte_identical(newline):
    data = codecs.BOM_UTF8 + SRT.replace("\n", newline).encode()
    assert identity("movie.srt", data) == data


def test_srt_rebuild_keeps_numbers_and_timings():
    doc = extract("movie.srt", SRT.encode())
    out = doc.rebuild([wrap(u.text) for u in doc.units]).decode()
    assert srt_headers(out) == srt_headers(SRT)
    assert "00:00:05,500 --> 00:00:08,250\n«This cue has»\n«two lines.»\n\n3\n" in out


def test_srt_translation_cannot_split_or_merge_cues():
    doc = extract("movie.srt", SRT.encode())
    out = doc.rebuild(["Line one\n\nline two\n", "One line only", "A\nB\nC"]).decode()
    again = extract("movie.srt", out.encode())
    assert [u.text for u in again.units] == ["Line one\nline two", "One line only", "A\nB\nC"]
    assert srt_headers(out) == srt_headers(SRT)


def test_srt_tolerates_missing_blank_line_between_cues():
    doc = extract("a.srt", b"1\n00:00:01,000 --> 00:00:02,000\nOne\n2\n00:00:03,000 --> 00:00:04,000\nTwo\n")
    assert [u.text for u in doc.units] == ["One", "Two"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Just some text\nthat is not a subtitle\n",
        b"1\n00:00:01,000 -> 00:00:04,000\nBad arrow\n",
        b"1\n00:00:01,000 --> 00:00:04,000\nFine\n\nstray text without timing\n",
    ],
)
def test_malformed_srt_is_rejected(data):
    with pytest.raises(UnsupportedFile, match="SRT"):
        extract("bad.srt", data)


# ---------------------------------------------------------------- .html

HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Fanyi &amp; friends</title>
  <style>p { color: #333; }</style>
  <script>const msg = "<p>not text</p>"; if (a < b) {}</script>
</head>
<body>
  <!-- site navigation -->
  <nav><ul><li><a href="/">Home</a></li><li><a href=/about class="x">About us</a></li></ul></nav>
  <p>Read <a href="/docs" title="The manual">the documentation</a> and <b>enjoy</b> it.<br>
     A second line.</p>
  <p><img src="logo.png" alt="Company logo" width=10></p>
  <table>
    <caption>Prices</caption>
    <tr><th>Plan</th><th>Cost</th></tr>
    <tr><td>Basic</td><td><code>0</code></td></tr>
  </table>
  <pre>keep   this    verbatim</pre>
  <p translate="no">BrandName</p>
  <p>Run <code>make</code> now.</p>
</body>
</html>
"""


class Structure(HTMLParser):
    """Tags with attributes, comments and declarations; translated attribute values are masked."""

    def __init__(self, masked: set[str]):
        super().__init__()
        self.masked = masked
        self.items: list[tuple] = []
        self.text_in: dict[str, list[str]] = {}
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.items.append((tag, tuple((k, "*" if k in self.masked else v) for k, v in attrs)))
        if tag not in ("br", "img", "meta"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        self.items.append(("/" + tag,))
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_comment(self, data):
        self.items.append(("!--", data))

    def handle_decl(self, decl):
        self.items.append(("!", decl))

    def handle_data(self, data):
        if self.open and data.strip():
            self.text_in.setdefault(self.open[-1], []).append(data)


def structure(text: str) -> Structure:
    parsed = Structure(masked={"alt", "title"})
    parsed.feed(text)
    parsed.close()
    return parsed


def test_html_units_keep_inline_markup_inside():
    doc = extract("page.html", HTML.encode())
    assert doc.units == [
        Unit("Fanyi &amp; friends", "html"),
        Unit('<a href="/">Home</a>', "html"),
        Unit('<a href=/about class="x">About us</a>', "html"),
        Unit(
            'Read <a href="/docs" title="The manual">the documentation</a> and <b>enjoy</b> it.<br>\n'
            "     A second line.",
            "html",
        ),
        Unit("The manual", "plain"),
        Unit("Company logo", "plain"),
        Unit("Prices", "html"),
        Unit("Plan", "html"),
        Unit("Cost", "html"),
        Unit("Basic", "html"),
        Unit("Run <code>make</code> now.", "html"),
    ]


def test_html_identity_is_byte_identical():
    assert identity("page.html", HTML.encode()) == HTML.encode()
    crlf = codecs.BOM_UTF8 + HTML.replace("\n", "\r\n").encode()
    assert identity("page.htm", crlf) == crlf


def test_html_rebuild_keeps_tags_attributes_and_code():
    doc = extract("page.html", HTML.encode())
    out = doc.rebuild([shout(u.text) if u.fmt == "html" else wrap(u.text) for u in doc.units]).decode()
    before, after = structure(HTML), structure(out)
    assert after.items == before.items  # same tags, attributes, comments and doctype, in the same order
    for tag in ("script", "style", "pre"):
        assert after.text_in[tag] == before.text_in[tag]
    assert after.text_in["code"] == ["0", "MAKE"]  # a cell that is only code is kept; inline code is sent
    assert after.text_in["p"] == ["READ ", " AND ", " IT.", "\n     A SECOND LINE.", "BrandName", "RUN ", " NOW."]
    assert after.text_in["title"] == ["FANYI & FRIENDS"]
    assert '<a href="/docs" title="«The manual»">THE DOCUMENTATION</a>' in out
    assert '<img src="logo.png" alt="«Company logo»" width=10>' in out


def test_html_attribute_translations_are_escaped():
    page = "<p><img alt='Logo' src=a.png><abbr title=HTML>HTML</abbr> is fun</p>"
    doc = extract("a.html", page.encode())
    assert [u.text for u in doc.units] == [
        "<img alt='Logo' src=a.png><abbr title=HTML>HTML</abbr> is fun",
        "Logo",
        "HTML",
    ]
    translations = {"Logo": 'It\'s <our> "logo"', "HTML": 'Hyper & "text"'}
    out = doc.rebuild([translations.get(u.text, u.text) for u in doc.units]).decode()
    parsed = Structure(masked=set())
    parsed.feed(out)
    attrs = {item[0]: dict(item[1]) for item in parsed.items if item[0] in ("img", "abbr")}
    assert attrs["img"] == {"alt": 'It\'s <our> "logo"', "src": "a.png"}
    assert attrs["abbr"] == {"title": 'Hyper & "text"'}


def test_html_translate_no_inside_a_paragraph_is_kept():
    page = '<p>Buy <span translate="no">Fanyi Pro</span> today</p>'
    doc = extract("a.html", page.encode())
    assert [u.text for u in doc.units] == ["Buy", "today"]
    assert (
        doc.rebuild(["Kaufen Sie", "heute"]).decode() == '<p>Kaufen Sie <span translate="no">Fanyi Pro</span> heute</p>'
    )


def test_html_without_text_has_no_units():
    page = b"<html><body><div><code>x = 1</code></div><script>alert('hi')</script></body></html>"
    doc = extract("a.html", page)
    assert doc.units == [] and doc.rebuild([]) == page


def test_html_construct_that_never_ends_runs_to_the_end_untranslated():
    # As in HTML5 (and Python's own fix of the quadratic recovery, gh-135462): the rest of the page is
    # the unclosed comment, kept as it is. With no ">" left, the rest is text, as before.
    page = b"<p>Hello</p><!-- unclosed > text"
    doc = extract("a.html", page)
    assert doc.units == [Unit("Hello", "html")] and doc.rebuild(["Bonjour"]) == page.replace(b"Hello", b"Bonjour")
    assert [u.text for u in extract("a.html", b"<p>Hi <b>x</b> a<b c").units] == ["Hi <b>x</b> a<b c"]


def test_html_lone_angle_brackets_and_ampersands_stay_text_and_attributes():
    page = b'<p title="1 < 2 & 3">a < b & c <<< && d</p><img alt="x < y">'
    doc = extract("a.html", page)
    assert [u.text for u in doc.units] == ["1 < 2 & 3", "a < b & c <<< && d", "x < y"]
    assert doc.rebuild(["T", "A", "X"]) == b'<p title="T">A</p><img alt="X">'


def test_html_invalid_utf8_is_rejected():
    with pytest.raises(UnsupportedFile, match="file is not valid UTF-8"):
        extract("a.html", "<p>café</p>".encode("cp1252"))


def test_html_phrasing_elements_of_forms_and_ruby_stay_inside_the_unit():
    # The one inline set of both routes: segment.py had label, ruby, rt and rp, the file reader br and
    # input; the reader now has all of them (phrasing content in HTML).
    page = '<p>Your <label>name <input title="Full name"></label> here.</p><p>東<ruby>京<rp>(</rp><rt>kyō</rt><rp>)</rp></ruby>へ</p>'
    doc = extract("a.html", page.encode())
    assert [u.text for u in doc.units] == [
        'Your <label>name <input title="Full name"></label> here.',
        "Full name",
        "東<ruby>京<rp>(</rp><rt>kyō</rt><rp>)</rp></ruby>へ",
    ]


# ---------------------------------------------------------------- text of a format (/v1/translate)


@pytest.mark.parametrize("name, fmt, text", [("guide.md", "markdown", MD), ("page.html", "html", HTML)])
def test_a_text_reads_as_its_file_does_and_renders_back_as_text(name, fmt, text):
    doc = read_text(text, fmt)
    assert doc.units == extract(name, codecs.BOM_UTF8 + text.encode()).units
    assert doc.render_text([u.text for u in doc.units]) == text  # no BOM, no bytes
    with pytest.raises(ValueError, match="expected"):
        doc.render_text([])


def test_a_text_stream_gives_each_part_once_its_units_are_in():
    # The image's alt text is a unit after the paragraph's: the paragraph waits for it.
    doc = read_text('<p>Hi <img alt="cat"> there</p>\n<img alt="dog"><p>End</p>', "html")
    assert [u.text for u in doc.units] == ['Hi <img alt="cat"> there', "cat", "dog", "End"]
    stream = TextStream(doc)
    chunks = [stream.take(), *(stream.add(t) for t in ['HI <img alt="cat"> THERE', "CAT", "DOG", "END"])]
    assert chunks == ["<p>", "", 'HI <img alt="CAT"> THERE</p>\n', '<img alt="DOG"><p>', "END</p>"]
    assert "".join(chunks) == doc.render_text(stream.translations)
    with pytest.raises(ValueError, match="4 units"):
        stream.add("one too many")


def test_reading_a_text_stops_past_max_units():
    with pytest.raises(FileTooLarge):
        read_text("<p>a</p><p>b</p>", "html", max_units=1)
    assert len(read_text("a\n\nb\n", "markdown", max_units=2).units) == 2


# ---------------------------------------------------------------- .docx


def make_docx() -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Company Confidential"
    document.add_heading("Annual report", level=1)
    document.add_paragraph("The year in review.")
    mixed = document.add_paragraph("We grew ", style="List Bullet")
    mixed.add_run("fast").bold = True
    mixed.add_run(" and ")
    mixed.add_run("safely").italic = True
    mixed.add_run(".").add_break(WD_BREAK.PAGE)
    document.add_paragraph("   ")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["Region", "Sales"], ["North", "12"]]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def shape(data: bytes) -> tuple:
    document = docx.Document(io.BytesIO(data))
    return (
        [(p.style.name, len(p.runs)) for p in document.paragraphs],
        [(len(t.rows), len(t.columns)) for t in document.tables],
    )


def test_docx_units_are_paragraphs_with_text():
    doc = extract("report.docx", make_docx())
    assert doc.units == [
        Unit(t, "plain")
        for t in (
            "Annual report",
            "The year in review.",
            "We grew fast and safely.",
            "Region",
            "Sales",
            "North",
            "12",
            "Company Confidential",
        )
    ]


def test_docx_rebuild_keeps_styles_tables_and_first_run_format():
    data = make_docx()
    doc = extract("report.docx", data)
    out = doc.rebuild([wrap(u.text) for u in doc.units])
    assert shape(out) == shape(data)
    document = docx.Document(io.BytesIO(out))
    paragraphs = document.paragraphs
    assert [p.text for p in paragraphs] == [
        "«Annual report»",
        "«The year in review.»",
        "«We grew fast and safely.»",
        "   ",
    ]
    runs = paragraphs[2].runs
    assert [r.text for r in runs] == ["«We grew fast and safely.»", "", "", "", ""]
    assert runs[1].bold and runs[3].italic  # emptied runs keep their formatting
    assert 'w:type="page"' in paragraphs[2]._p.xml  # the page break in the last run survives
    assert [[c.text for c in row.cells] for row in document.tables[0].rows] == [
        ["«Region»", "«Sales»"],
        ["«North»", "«12»"],
    ]
    assert document.sections[0].header.paragraphs[0].text == "«Company Confidential»"


def test_docx_line_breaks_and_tabs_in_translations():
    doc = extract("report.docx", make_docx())
    out = doc.rebuild(["Line one\nline two\tend"] + [u.text for u in doc.units[1:]])
    heading = docx.Document(io.BytesIO(out)).paragraphs[0]
    assert heading.text == "Line one\nline two\tend" and heading.style.name == "Heading 1"
    assert "<w:br/>" in heading._p.xml and "<w:tab/>" in heading._p.xml


def test_docx_rebuild_twice_gives_same_result():
    doc = extract("report.docx", make_docx())
    first = doc.rebuild([wrap(u.text) for u in doc.units])
    second = doc.rebuild([wrap(u.text) for u in doc.units])
    assert shape(first) == shape(second)
    assert [p.text for p in docx.Document(io.BytesIO(second)).paragraphs][:2] == [
        "«Annual report»",
        "«The year in review.»",
    ]


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("data", [b"not a zip at all", make_docx()[:300], zip_of({"hello.txt": b"hi"})])
def test_corrupt_docx_is_rejected(data):
    with pytest.raises(UnsupportedFile, match="not a valid .docx"):
        extract("broken.docx", data)


# ---------------------------------------------------------------- common


def test_unknown_extension_is_rejected_with_the_supported_list():
    with pytest.raises(UnsupportedFile) as err:
        extract("slides.pptx", b"whatever")
    assert ".pptx" in str(err.value) and all(ext in str(err.value) for ext in SUPPORTED)
    with pytest.raises(UnsupportedFile, match="without an extension"):
        extract("README", b"text")


def test_extension_is_case_insensitive():
    assert extract("NOTES.TXT", b"hello").units == [Unit("hello", "plain")]


@pytest.mark.parametrize(
    "name,data",
    [
        ("a.txt", b"p1\n\np2\n\np3\n\np4"),
        ("a.md", b"# h\n\n- a\n- b\n- c\n"),
        ("a.srt", b"".join(b"%d\n00:00:0%d,000 --> 00:00:0%d,500\nline\n\n" % (i, i, i) for i in range(1, 5))),
        ("a.html", b"<ul><li>a</li><li>b</li><li>c</li><li>d</li></ul>"),
        ("a.docx", make_docx()),
    ],
)
def test_too_many_units_is_rejected(name, data):
    count = len(extract(name, data).units)
    assert count > 3 and len(extract(name, data, max_units=count).units) == count
    with pytest.raises(FileTooLarge, match="more than 3"):
        extract(name, data, max_units=3)


def test_docx_that_unzips_too_large_is_rejected(monkeypatch):
    import app.files.docx

    monkeypatch.setattr(app.files.docx, "MAX_UNPACKED_BYTES", 10_000)  # instead of building a real zip bomb
    with pytest.raises(FileTooLarge, match="unpacks to more than"):
        extract("big.docx", make_docx())


def test_rebuild_needs_one_translation_per_unit():
    doc = extract("a.txt", b"one\n\ntwo")
    with pytest.raises(ValueError, match="expected 2 translations"):
        doc.rebuild(["only one"])


def test_file_errors_are_client_errors():
    for exc in (UnsupportedFile("x"), FileTooLarge("y")):
        assert isinstance(exc, ValueError) and isinstance(exc, InvalidRequest) and exc.status_code == 400
