"""/v1/translate with `format: markdown|html` goes through the file formats' readers (app/files), one
parser per format: the service's own serving logic (TranslateService) with the real Translator and
PostProcessor, and a stand-in engine that records what the model is sent. The real engine over HTTP is
covered by tests/integration/test_translate.py.

Several tests here were segment.py's tests of Markdown and HTML block parsing (fences, tables, front
matter, <br>, <pre>, script and style), which now belong to the readers; each says where it came from.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from app.api.protocol import TranslateRequest
from app.api.rate_limit import RateLimiter
from app.api.translate_serving import TranslateService
from app.errors import InvalidRequest
from app.generation import GenerateChunk
from app.inprocess import LocalHandle, NullMetrics
from app.translate.memory import TranslationMemory
from app.translate.translator import Route, Translator
from deployments.postprocess import PostProcessor

DEADLINE_S = 10.0


class Metrics(NullMetrics):
    def observe_request(self, *args, **kwargs) -> None:
        pass

    def observe_tokens(self, *args, **kwargs) -> None:
        pass


class Engine:
    """Answers each piece with `answer(masked text)`; `seen` is what the model was sent, in document
    order. A piece whose text holds `hold_on` waits for `release`."""

    def __init__(self, answer=str.upper, hold_on: str | None = None):
        self.answer, self.hold_on = answer, hold_on
        self.release = asyncio.Event()
        self.sent: dict[int, str] = {}

    @property
    def seen(self) -> list[str]:
        return [self.sent[number] for number in sorted(self.sent)]

    async def complete(self, req):
        text = req.messages[-1]["content"].split("\n\n", 1)[1]  # the chat prompt's rules, then the piece
        self.sent[int(req.request_id.rsplit("-", 1)[1])] = text  # the piece's number in the request
        if self.hold_on is not None and self.hold_on in text:
            await self.release.wait()
        return GenerateChunk(self.answer(text), 10, 5, "stop")


def echo(text: str) -> str:
    return text


def service(engine: Engine, max_pieces: int = 2000) -> TranslateService:
    translator = Translator(TranslationMemory(0), LocalHandle(PostProcessor()), Metrics(), max_pieces=max_pieces)
    route = Route("m", LocalHandle(engine), "chat")
    return TranslateService(translator, lambda model, pair: route, Metrics(), RateLimiter())


async def _call(server: TranslateService, body: dict):
    response = await server.translate(TranslateRequest(target_lang="de", source_lang="en", **body))
    if not body.get("stream"):
        return json.loads(response.body)
    raw = b"".join([chunk async for chunk in response.body_iterator]).decode()
    return [json.loads(line[6:]) for line in raw.split("\n") if line.startswith("data: ") and line != "data: [DONE]"]


def translate(engine: Engine, max_pieces: int = 2000, **body):
    """The JSON answer, or the list of SSE events with stream=True."""
    return asyncio.run(asyncio.wait_for(_call(service(engine, max_pieces), body), DEADLINE_S))


MARKDOWN = """---
title: Fanyi guide
---
# Getting started #

Fanyi translates files. Read [the guide](https://example.com/guide "Guide")
for details.

- Install the *package*
- [x] Run `fanyi serve`
  in a terminal
  1. Nested step

> Quoted advice.

```bash
# a comment that must not be translated
pip install fanyi
```

| Option | Meaning |
|--------|:-------:|
| `--port` | Port to listen on |

    indented code stays

<!-- a comment -->
[guide]: https://example.com/guide
"""

HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="description" content="A translation service">
  <title>Fanyi &amp; friends</title>
  <style>p { color: red }</style>
</head>
<body>
  <!-- navigation -->
  <p>Click <a href="https://x.io/a?b=c" title="The docs">here</a> to continue.<br>Run <code>make test</code> now.</p>
  <img src="cat.png" alt="A cat">
  <pre>keep   this</pre>
  <script>var s = "<p>not a tag</p>";</script>
  <ul><li>One</li><li>Two</li></ul>
</body>
</html>
"""

DOCUMENTS = [
    ("markdown", MARKDOWN),
    ("markdown", MARKDOWN.replace("\n", "\r\n")),
    ("markdown", "No final newline\n\n## Heading"),
    ("html", HTML),
    ("html", "plain words, no tags"),
    ("html", "<p>unclosed <b>bold\n<script>var s = '<p>not a tag</p>';"),
]


@pytest.mark.parametrize("fmt, text", DOCUMENTS)
@pytest.mark.parametrize("stream", [False, True])
def test_an_identity_translation_gives_the_text_back_byte_for_byte(fmt, text, stream):
    answer = translate(Engine(echo), text=text, format=fmt, stream=stream)
    if stream:
        deltas = "".join(e["text"] for e in answer if e["type"] == "delta")
        assert deltas == answer[-1]["text"] == text
    else:
        assert answer["text"] == answer["translations"][0]["text"] == text


def test_markdown_block_markup_never_reaches_the_model():
    engine = Engine()
    out = translate(engine, text=MARKDOWN, format="markdown")["text"]
    assert engine.seen == [
        "Getting started",
        'Fanyi translates files. Read [the guide](⟦0⟧ "Guide")',
        "for details.",
        "Install the *package*",
        "Run ⟦0⟧",
        "in a terminal",
        "Nested step",
        "Quoted advice.",
        "Option",
        "Meaning",
        "Port to listen on",
    ]
    assert out.startswith("---\ntitle: Fanyi guide\n---\n# GETTING STARTED #\n")
    assert "```bash\n# a comment that must not be translated\npip install fanyi\n```\n" in out
    assert "- [x] RUN `fanyi serve`\n  IN A TERMINAL\n  1. NESTED STEP\n" in out
    assert "| OPTION | MEANING |\n|--------|:-------:|\n| `--port` | PORT TO LISTEN ON |\n" in out
    assert out.endswith("\n    indented code stays\n\n<!-- a comment -->\n[guide]: https://example.com/guide\n")


def test_markdown_fences_tables_front_matter():
    # From test_segment.py (segment's own Markdown reader); the file reader gives the same pieces.
    text = (
        "---\ntitle: Guide\n---\n# Setup\n\n```bash\nmake serve  # Start it\n```\n\n"
        "| Option | Meaning |\n|---|:--:|\n| `port` | The port to listen on |\n\nText with `code` here.\n"
    )
    engine = Engine()
    out = translate(engine, text=text, format="markdown")["text"]
    assert engine.seen == ["Setup", "Option", "Meaning", "The port to listen on", "Text with ⟦0⟧ here."]
    assert out.startswith("---\ntitle: Guide\n---\n# SETUP\n\n```bash\nmake serve  # Start it\n```\n\n| OPTION |")


def test_markdown_closing_hashes_unclosed_fences_and_tables_without_outer_pipes():
    # From test_segment.py: "## Done ##" keeps its closing marks, an unclosed fence runs to the end,
    # a table needs no outer pipes.
    engine = Engine()
    assert translate(engine, text="## Done ##", format="markdown")["text"] == "## DONE ##"
    assert engine.seen == ["Done"]
    engine = Engine()
    assert translate(engine, text="Intro.\n```\ncode line\nmore code", format="markdown")["text"] == (
        "INTRO.\n```\ncode line\nmore code"
    )
    engine = Engine()
    assert translate(engine, text="Name | Value\n--- | ---\nport | The port\n", format="markdown")["text"] == (
        "NAME | VALUE\n--- | ---\nPORT | THE PORT\n"
    )
    assert engine.seen == ["Name", "Value", "port", "The port"]


def test_html_tags_are_structure_and_inline_runs_stay_whole():
    # From test_segment.py, where the two parsers disagreed on <br>: segment.py made it a block break
    # ("Line one" and "Line two &amp; more" apart); the file reader's answer, now the only one, keeps it
    # inline like <a> or <b>: a line break inside a paragraph belongs to its sentence, and the model
    # sees it as a placeholder.
    text = (
        "<html><head><title>Hi there</title><style>p{color:red}</style></head><body>"
        '<p>Click <a href="http://x.y/?a=b.c">here</a> to continue. Run <code>make test</code> now.</p>'
        '<pre>keep   this</pre><script>var a = "text";</script>Line one<br>Line two &amp; more</body></html>'
    )
    engine = Engine()
    out = translate(engine, text=text, format="html")["text"]
    assert engine.seen == ["Hi there", "Click ⟦0⟧here⟦1⟧ to continue. Run ⟦2⟧ now.", "Line one⟦0⟧Line two ⟦1⟧ more"]
    assert out == text.replace("Hi there", "HI THERE").replace(
        '">here</a> to continue. Run <code>make test</code> now.',
        '">HERE</a> TO CONTINUE. RUN <code>make test</code> NOW.',
    ).replace("Click", "CLICK").replace("Line one<br>Line two &amp; more", "LINE ONE<br>LINE TWO &amp; MORE")


def test_html_code_only_and_pre_content_is_not_translated():
    # From test_segment.py; the file reader agrees.
    text = "<ul>\n  <li><code>--port</code></li>\n  <li><pre><b>bold code</b></pre></li>\n</ul>"
    engine = Engine()
    assert translate(engine, text=text, format="html")["text"] == text and engine.seen == []


def test_xml_elements_are_units():
    # From test_segment.py; the file reader agrees: an element it does not know ends a unit.
    text = '<resources>\n  <string name="greeting">Hello</string>\n  <string name="n">%d files</string>\n</resources>'
    engine = Engine()
    out = translate(engine, text=text, format="html")["text"]
    assert engine.seen == ["Hello", "⟦0⟧ files"] and out == text.replace("Hello", "HELLO").replace(" files", " FILES")


def test_html_attributes_people_read_are_translated_as_in_files():
    # The file reader's answer: alt, title and meta descriptions are units of their own (segment.py left
    # every attribute inside its masked tag, untranslated).
    engine = Engine()
    out = translate(engine, text=HTML, format="html")["text"]
    assert {"A translation service", "The docs", "A cat"} <= set(engine.seen)
    assert '<meta name="description" content="A TRANSLATION SERVICE">' in out
    assert '<a href="https://x.io/a?b=c" title="THE DOCS">HERE</a>' in out and 'alt="A CAT"' in out
    assert '<script>var s = "<p>not a tag</p>";</script>' in out and "<pre>keep   this</pre>" in out


def test_model_markup_in_an_html_text_is_escaped():
    engine = Engine(lambda text: text.replace("friend", "<img src=x onerror=alert(1)>"))
    out = translate(engine, text="<p>Hello <b>dear</b> friend.</p>", format="html")["text"]
    assert out == "<p>Hello <b>dear</b> &lt;img src=x onerror=alert(1)&gt;.</p>"


def test_segments_stay_aligned_and_carry_the_union_of_their_units_flags():
    # One unit's answer comes quoted, the other's drops the placeholder of `make`: the first segment has
    # both flags, the others neither.
    answers = {"Title": '"Titel"', "Run ⟦0⟧ now.": "Jetzt ausführen.", "⟦0⟧No code⟦1⟧": "⟦0⟧Kein Code⟦1⟧"}
    engine = Engine(lambda text: answers.get(text, text))
    segments = ["# Title\n\nRun `make` now.", "", "<p>No code</p>", "| 1 |\n|---|\n| 2 |"]
    body = translate(engine, segments=segments, format="markdown")
    assert body["text"] is None
    assert body["translations"] == [
        {"text": "# Titel\n\nJetzt ausführen. `make`", "flags": ["placeholder_missing", "quotes_removed"]},
        {"text": "", "flags": []},
        {"text": "<p>Kein Code</p>", "flags": []},  # a Markdown paragraph: its inline tags are masked
        {"text": "| 1 |\n|---|\n| 2 |", "flags": []},  # cells without words: nothing translated
    ]


def test_a_stream_grows_front_to_back_with_the_markup_between_units():
    engine = Engine(hold_on="Third")

    async def main():
        server = service(engine)
        text = "<h1>First</h1>\n<p>Second</p>\n<p>Third</p>\n"
        body = TranslateRequest(target_lang="de", source_lang="en", text=text, format="html", stream=True)
        response = await server.translate(body)
        chunks = response.body_iterator
        early = [json.loads((await anext(chunks))[6:]) for _ in range(3)]
        engine.release.set()  # only now can the third unit finish
        rest = [chunk async for chunk in chunks]
        return early, rest

    early, rest = asyncio.run(asyncio.wait_for(main(), DEADLINE_S))
    assert early == [  # the markup before the first unit at once, then each unit with the markup after it
        {"type": "delta", "segment": 0, "text": "<h1>"},
        {"type": "delta", "segment": 0, "text": "FIRST</h1>\n<p>"},
        {"type": "delta", "segment": 0, "text": "SECOND</p>\n<p>"},
    ]
    events = [json.loads(c[6:]) for c in rest if c.startswith(b"data: {")]
    assert [e["type"] for e in events] == ["delta", "segment", "done"]
    assert events[0]["text"] == "THIRD</p>\n" and events[-1]["text"] == "<h1>FIRST</h1>\n<p>SECOND</p>\n<p>THIRD</p>\n"


def test_a_stream_of_segments_gives_each_segment_its_events_in_order():
    events = translate(Engine(), segments=["<b>One</b>", "", "Two <i>x</i>"], format="html", stream=True)
    assert [(e["type"], e.get("segment", e.get("index"))) for e in events] == [
        ("delta", 0),
        ("segment", 0),
        ("segment", 1),
        ("delta", 2),
        ("segment", 2),
        ("done", None),
    ]
    assert [t["text"] for t in events[-1]["translations"]] == ["<b>ONE</b>", "", "TWO <i>X</i>"]


def test_blocks_past_the_segment_limit_are_refused_before_any_model_call():
    # A table of numbers is blocks without words: nothing to translate, but each is parsed and kept,
    # so the request's segment limit bounds them too (across all segments of the request).
    engine = Engine()
    table = "| a |\n|---|\n" + "| 1 |\n" * 3
    with pytest.raises(InvalidRequest, match=r"too many segments .*limit 3") as refused:
        translate(engine, max_pieces=3, text=table, format="markdown")
    assert refused.value.code == "too_many_segments" and refused.value.param == "text"
    with pytest.raises(InvalidRequest) as refused:
        translate(engine, max_pieces=3, segments=["<p>a</p><p>b</p>", "<p>c</p><p>d</p>"], format="html")
    assert refused.value.param == "segments" and engine.seen == []
    assert translate(engine, max_pieces=3, segments=["<p>a</p>", "<p>c</p><p>d</p>"], format="html")["text"] is None


def test_plain_text_keeps_its_own_path():
    # Markdown-looking plain text is prose: the fence's content goes to the model, lines one by one.
    engine = Engine()
    out = translate(engine, text="# Title\n```\nmake serve  # Start it\n```", format="plain")["text"]
    assert engine.seen == ["Title", "make serve  # Start it"]
    assert out.startswith("# TITLE\n")
