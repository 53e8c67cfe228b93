"""HTML (.html, .htm): translate the text, keep every tag, attribute, comment and the doctype byte for byte.

The stdlib tokenizer (html.parser) reports where each tag and text run starts in the source; a unit is
a run of text and inline elements (<a>, <b>, <code>, <br>, ...) between block boundaries, trimmed of
surrounding whitespace and cut from the source as it is, so its inline tags travel inside the unit
(fmt "html") and the service keeps them. Everything between units is copied from the source, so tags
are never re-serialized. Not translated: script, style, pre, textarea, svg, math, translate="no"
elements, and runs whose only text is inside <code>/<kbd>/<samp>/<var>. Human-readable attributes
(alt, title, placeholder, aria-label, button values, meta description) are separate plain units.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.files.core import FileTooLarge, Part, SpliceDoc, UnitList, UnsupportedFile, decode_text
from app.files.html_attrs import TagPart, readable_attrs, tag_part
from app.files.html_tokenizer import Tokenizer

# Phrasing elements stay inside a unit ("Click <a href=…>here</a> now." is one sentence; the segmenter masks
# the tags). Every other element, known or not (XML), ends the unit before it.
INLINE = frozenset(
    "a abbr acronym b bdi bdo big br cite code data del dfn em font i img input ins kbd label mark nobr q rp rt "
    "ruby s samp small span strike strong sub sup time tt u var wbr".split()
)
SKIP = frozenset("script style pre textarea svg math".split())
CODE = frozenset("code kbd samp var".split())
VOID = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
# Start tags that implicitly close an open element of the listed kinds (a subset of the HTML rules,
# enough to keep the open-element stack right for translate="no" and skipped elements).
_CLOSES = {
    "li": {"li"},
    "dt": {"dt", "dd"},
    "dd": {"dt", "dd"},
    "td": {"td", "th"},
    "th": {"td", "th"},
    "tr": {"tr", "td", "th"},
    "option": {"option"},
}
_CLOSES_P = frozenset(
    "address article aside blockquote details div dl fieldset figcaption figure footer form h1 h2 h3 h4 h5 "
    "h6 header hr main menu nav ol p pre section table ul".split()
)


def read_html(data: bytes, max_units: int) -> SpliceDoc:
    text, bom = decode_text(data)
    return read_html_text(text, max_units, bom)


def read_html_text(text: str, max_units: int, bom: bool = False) -> SpliceDoc:
    """read_html for text that never was bytes (/v1/translate's `format: html`). Units are found
    while the tokenizer runs, so the unit limit stops a huge page early."""
    builder = _Builder(text, UnitList(max_units))
    try:
        _Tokenizer(text, builder).tokenize()
    except (UnsupportedFile, FileTooLarge):
        raise
    except Exception:  # html.parser is lenient; guard against its rare internal errors all the same
        raise UnsupportedFile("could not parse the HTML") from None
    return builder.finish(bom)


@dataclass
class _Event:
    kind: str  # "start", "end", "text" (data and character references) or "other" (comments, doctype...)
    start: int
    tag: str = ""
    attrs: dict[str, str | None] = field(default_factory=dict)
    raw: str = ""  # a start tag's source text
    void: bool = False
    end: int = 0


class _Tokenizer(Tokenizer):
    """Hands each event to the builder once the next one starts (an event runs to the next one's start,
    so the events tile the source without gaps), and the last one at the end."""

    def __init__(self, text: str, builder: _Builder):
        super().__init__(text, convert_charrefs=False)  # references as events of their own: offsets stay exact
        self.builder = builder
        self.pending: _Event | None = None

    def tokenize(self) -> None:
        super().tokenize()
        self._add(_Event("other", len(self.text)), at=len(self.text))  # ends the last event

    def _add(self, event: _Event, at: int | None = None) -> None:
        event.start = self.position() if at is None else at
        if event.kind == "start":
            event.raw = self.raw_starttag(event.start)
        previous, self.pending = self.pending, event
        if previous is None:
            return
        if event.start < previous.start or (previous.raw and not self.text.startswith(previous.raw, previous.start)):
            raise UnsupportedFile("could not parse the HTML: inconsistent tag positions")
        previous.end = event.start
        self.builder.event(previous)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], void: bool) -> None:
        first: dict[str, str | None] = {}
        for name, value in self.starttag_attrs(attrs):
            first.setdefault(name, value)  # browsers use the first of duplicate attributes
        self._add(_Event("start", 0, tag=tag, attrs=first, void=void))

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, tag in VOID)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, True)

    def handle_endtag(self, tag):
        self._add(_Event("end", 0, tag=tag))

    def handle_data(self, data):
        self._add(_Event("text", 0))

    def handle_entityref(self, name):
        self._add(_Event("text", 0))

    def handle_charref(self, name):
        self._add(_Event("text", 0))

    def handle_comment(self, data):
        self._add(_Event("other", 0))

    def handle_decl(self, decl):
        self._add(_Event("other", 0))

    def handle_pi(self, data):
        self._add(_Event("other", 0))

    def unknown_decl(self, data):
        self._add(_Event("other", 0))


@dataclass(frozen=True)
class _TextPart:
    """A unit of text with inline markup, put back as the translation says."""

    index: int
    tags: tuple[TagPart, ...]  # inline start tags in it whose attributes are units of their own

    @property
    def stop(self) -> int:
        return self.tags[-1].stop if self.tags else self.index + 1  # the tags' units follow the text's

    def render(self, translations: Sequence[str]) -> str:
        out = translations[self.index]
        # The service keeps tags as they are, so an inline tag is found by its source text; if it was
        # altered its attributes stay untranslated rather than the text being corrupted.
        for tag in self.tags:
            new, at = tag.render(translations), out.find(tag.raw)
            if new != tag.raw and at >= 0:
                out = out[:at] + new + out[at + len(tag.raw) :]
        return out


class _OpenElements:
    """The open-element stack, with counters so that a page of thousands of unclosed tags stays linear."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, bool, bool]] = []  # tag, skipped (no translation inside), code
        self.count: dict[str, int] = {}
        self.skip = 0  # open elements whose content is not translated
        self.code = 0

    def push(self, tag: str, skip: bool, code: bool) -> None:
        self.stack.append((tag, skip, code))
        self.count[tag] = self.count.get(tag, 0) + 1
        self.skip += skip
        self.code += code

    def pop(self) -> str:
        tag, skip, code = self.stack.pop()
        self.count[tag] -= 1
        self.skip -= skip
        self.code -= code
        return tag

    def close(self, tag: str) -> None:
        """Close the innermost open `tag` and everything inside it; a stray end tag closes nothing."""
        if self.count.get(tag):
            while self.pop() != tag:
                pass

    def implied_close(self, tag: str) -> None:
        closes = _CLOSES.get(tag, set()) | ({"p"} if tag in _CLOSES_P else set())
        while self.stack and self.stack[-1][0] in closes:
            self.pop()


class _Builder:
    def __init__(self, src: str, units: UnitList):
        self.src = src
        self.units = units
        self.parts: list[str | Part] = []
        self.cursor = 0  # source up to here is in parts
        self.open = _OpenElements()
        self.run_start: int | None = None  # the current run of text and inline tags
        self.run_end = 0
        self.run_text = False
        self.run_tags: list[_Event] = []

    def event(self, ev: _Event) -> None:
        if ev.kind == "start":
            self._start(ev)
        elif ev.kind == "end":
            if not self.open.skip and ev.tag in INLINE:
                self._extend(ev, False)
            elif not self.open.skip:
                self._flush()
            self.open.close(ev.tag)
        elif self.open.skip:
            return
        elif ev.kind == "text":
            text = html.unescape(self.src[ev.start : ev.end])
            self._extend(ev, not self.open.code and bool(text.strip()))
        else:
            self._flush()  # comments and declarations are never translated, so they end a unit

    def finish(self, bom: bool) -> SpliceDoc:
        self._flush()
        self._literal_to(len(self.src))
        return SpliceDoc(self.units.units, self.parts, bom)

    def _start(self, ev: _Event) -> None:
        self.open.implied_close(ev.tag)
        skip = ev.tag in SKIP or (ev.attrs.get("translate") or "").strip().lower() == "no"
        if self.open.skip:
            pass  # inside a skipped element nothing is translated; only the nesting is followed
        elif ev.tag in INLINE and not skip:
            self._extend(ev, False)
            if readable_attrs(ev.tag, ev.attrs):
                self.run_tags.append(ev)
        else:
            self._flush()
            if not skip:
                self._emit_tag(ev)
        if not ev.void:
            self.open.push(ev.tag, skip, ev.tag in CODE)

    def _extend(self, ev: _Event, has_text: bool) -> None:
        if self.run_start is None:
            self.run_start = ev.start
        self.run_end = ev.end
        self.run_text = self.run_text or has_text

    def _flush(self) -> None:
        if self.run_start is None:
            return
        if self.run_text:
            raw = self.src[self.run_start : self.run_end]
            start = self.run_start + len(raw) - len(raw.lstrip())
            end = self.run_end - (len(raw) - len(raw.rstrip()))
            self._literal_to(start)
            index = self.units.add(self.src[start:end], "html")
            tags = tuple(t for t in (self._tag_part(ev) for ev in self.run_tags) if t)  # after the text unit
            self.parts.append(_TextPart(index, tags))
            self.cursor = end
        else:
            for ev in self.run_tags:
                self._emit_tag(ev)
        self.run_start, self.run_text, self.run_tags = None, False, []

    def _emit_tag(self, ev: _Event) -> None:
        part = self._tag_part(ev)
        if part:
            self._literal_to(ev.start)
            self.parts.append(part)
            self.cursor = ev.start + len(ev.raw)

    def _literal_to(self, pos: int) -> None:
        if pos > self.cursor:
            self.parts.append(self.src[self.cursor : pos])
            self.cursor = pos

    def _tag_part(self, ev: _Event) -> TagPart | None:
        return tag_part(ev.raw, ev.tag, ev.attrs, self.units)
