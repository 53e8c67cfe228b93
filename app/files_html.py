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
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Sequence

from app.files_core import Part, SpliceDoc, UnitList, UnsupportedFile, decode_text

INLINE = frozenset(
    "a abbr acronym b bdi bdo big br cite code data del dfn em font i img input ins kbd mark nobr q s samp "
    "small span strike strong sub sup time tt u var wbr".split()
)
SKIP = frozenset("script style pre textarea svg math".split())
CODE = frozenset("code kbd samp var".split())
VOID = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
META_TEXT = frozenset("description og:title og:description twitter:title twitter:description".split())
# Start tags that implicitly close an open element of the listed kinds (a subset of the HTML rules,
# enough to keep the open-element stack right for translate="no" and skipped elements).
_CLOSES = {"li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "td": {"td", "th"}, "th": {"td", "th"},
           "tr": {"tr", "td", "th"}, "option": {"option"}}
_CLOSES_P = frozenset(
    "address article aside blockquote details div dl fieldset figcaption figure footer form h1 h2 h3 h4 h5 "
    "h6 header hr main menu nav ol p pre section table ul".split()
)


def read_html(data: bytes, max_units: int) -> SpliceDoc:
    text, bom = decode_text(data)
    try:
        events = _tokenize(text)
    except UnsupportedFile:
        raise
    except Exception as e:  # html.parser is lenient, but guard against its rare internal errors
        raise UnsupportedFile(f"could not parse the HTML: {e}") from None
    return _Builder(text, UnitList(max_units)).build(events, bom)


@dataclass
class _Event:
    kind: str  # "start", "end", "text" (data and character references) or "other" (comments, doctype...)
    start: int
    tag: str = ""
    attrs: dict[str, str | None] = field(default_factory=dict)
    raw: str = ""  # a start tag's source text
    void: bool = False
    end: int = 0


class _Tokenizer(HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=False)  # keep references as separate events: offsets stay exact
        self.line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.events: list[_Event] = []

    def _add(self, kind: str, **kw) -> None:
        line, col = self.getpos()
        self.events.append(_Event(kind, self.line_starts[line - 1] + col, **kw))

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], void: bool) -> None:
        first: dict[str, str | None] = {}
        for name, value in attrs:
            first.setdefault(name, value)  # browsers use the first of duplicate attributes
        self._add("start", tag=tag, attrs=first, raw=self.get_starttag_text() or "", void=void)

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, tag in VOID)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, True)

    def handle_endtag(self, tag):
        self._add("end", tag=tag)

    def handle_data(self, data):
        self._add("text")

    def handle_entityref(self, name):
        self._add("text")

    def handle_charref(self, name):
        self._add("text")

    def handle_comment(self, data):
        self._add("other")

    def handle_decl(self, decl):
        self._add("other")

    def handle_pi(self, data):
        self._add("other")

    def unknown_decl(self, data):
        self._add("other")


def _tokenize(text: str) -> list[_Event]:
    tokenizer = _Tokenizer(text)
    tokenizer.feed(text)
    tokenizer.close()
    events = tokenizer.events
    # Each event runs to the next one's start, so the events tile the source without gaps.
    for event, following in zip(events, events[1:] + [_Event("other", len(text))]):
        if following.start < event.start or (event.raw and not text.startswith(event.raw, event.start)):
            raise UnsupportedFile("could not parse the HTML: inconsistent tag positions")
        event.end = following.start
    return events


@dataclass(frozen=True)
class _AttrEdit:
    start: int  # the value's span in the tag's source text
    end: int
    quote: str  # '"', "'" or "" (unquoted)
    lead: str  # whitespace around the value, kept outside the unit
    trail: str
    index: int

    def render(self, raw: str, translations: Sequence[str]) -> str:
        source = raw[self.start:self.end]
        value = self.lead + translations[self.index] + self.trail
        if value == html.unescape(source):
            return source  # unchanged: keep the original spelling of its character references
        if not self.quote:
            return '"' + html.escape(value, quote=True) + '"'
        entity = "&quot;" if self.quote == '"' else "&#x27;"
        return html.escape(value, quote=False).replace(self.quote, entity)


@dataclass(frozen=True)
class _TagPart:
    """A start tag with translatable attribute values; the rest of the tag is copied."""

    raw: str
    edits: tuple[_AttrEdit, ...]

    def render(self, translations: Sequence[str]) -> str:
        out, pos = [], 0
        for edit in self.edits:
            out += [self.raw[pos:edit.start], edit.render(self.raw, translations)]
            pos = edit.end
        return "".join(out) + self.raw[pos:]


@dataclass(frozen=True)
class _TextPart:
    """A unit of text with inline markup, put back as the translation says."""

    index: int
    tags: tuple[_TagPart, ...]  # inline start tags in it whose attributes are units of their own

    def render(self, translations: Sequence[str]) -> str:
        out = translations[self.index]
        # The service keeps tags as they are, so an inline tag is found by its source text; if it was
        # altered its attributes stay untranslated rather than the text being corrupted.
        for tag in self.tags:
            new, at = tag.render(translations), out.find(tag.raw)
            if new != tag.raw and at >= 0:
                out = out[:at] + new + out[at + len(tag.raw):]
        return out


@dataclass
class _Open:
    tag: str
    skip: bool
    code: bool


class _Builder:
    def __init__(self, src: str, units: UnitList):
        self.src = src
        self.units = units
        self.parts: list[str | Part] = []
        self.cursor = 0  # source up to here is in parts
        self.stack: list[_Open] = []
        self.run_start: int | None = None  # the current run of text and inline tags
        self.run_end = 0
        self.run_text = False
        self.run_tags: list[_Event] = []

    def build(self, events: list[_Event], bom: bool) -> SpliceDoc:
        for ev in events:
            skipping = any(o.skip for o in self.stack)
            if ev.kind == "start":
                self._implied_close(ev.tag)
                skipping = any(o.skip for o in self.stack)
                skip = ev.tag in SKIP or (ev.attrs.get("translate") or "").strip().lower() == "no"
                if not skipping and ev.tag in INLINE and not skip:
                    self._extend(ev, False)
                    if _attr_names(ev):
                        self.run_tags.append(ev)
                elif not skipping:
                    self._flush()
                    if not skip:
                        self._emit_tag(ev)
                if not ev.void:
                    self.stack.append(_Open(ev.tag, skip, ev.tag in CODE))
            elif ev.kind == "end":
                if not skipping and ev.tag in INLINE:
                    self._extend(ev, False)
                elif not skipping:
                    self._flush()
                self._pop(ev.tag)
            elif not skipping:
                if ev.kind == "text":
                    in_code = any(o.code for o in self.stack)
                    self._extend(ev, not in_code and bool(html.unescape(self.src[ev.start:ev.end]).strip()))
                else:
                    self._flush()  # comments and declarations are never translated, so they end a unit
        self._flush()
        self._literal_to(len(self.src))
        return SpliceDoc(self.units.units, self.parts, bom)

    def _implied_close(self, tag: str) -> None:
        closes = _CLOSES.get(tag, set()) | ({"p"} if tag in _CLOSES_P else set())
        while self.stack and self.stack[-1].tag in closes:
            self.stack.pop()

    def _pop(self, tag: str) -> None:
        """Close the innermost open `tag` and everything inside it; a stray end tag closes nothing."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def _extend(self, ev: _Event, has_text: bool) -> None:
        if self.run_start is None:
            self.run_start = ev.start
        self.run_end = ev.end
        self.run_text = self.run_text or has_text

    def _flush(self) -> None:
        if self.run_start is None:
            return
        if self.run_text:
            raw = self.src[self.run_start:self.run_end]
            start = self.run_start + len(raw) - len(raw.lstrip())
            end = self.run_end - (len(raw) - len(raw.rstrip()))
            self._literal_to(start)
            index = self.units.add(self.src[start:end], "html")
            tags = tuple(t for t in (self._tag_part(ev) for ev in self.run_tags) if t)
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
            self.parts.append(self.src[self.cursor:pos])
            self.cursor = pos

    def _tag_part(self, ev: _Event) -> _TagPart | None:
        spans = _attr_value_spans(ev.raw)
        edits = []
        for name in sorted(_attr_names(ev), key=lambda n: spans.get(n, (0,))[0]):  # units in source order
            value = ev.attrs[name] or ""
            if name not in spans or html.unescape(ev.raw[spans[name][0]:spans[name][1]]) != value:
                continue  # our scan disagrees with the parser's: leave the attribute alone
            text = value.strip()
            lead = value[:len(value) - len(value.lstrip())]
            trail = value[len(lead) + len(text):]
            start, end, quote = spans[name]
            edits.append(_AttrEdit(start, end, quote, lead, trail, self.units.add(text, "plain")))
        return _TagPart(ev.raw, tuple(edits)) if edits else None


def _attr_names(ev: _Event) -> list[str]:
    """The attributes of this start tag that people read, and that have text."""
    a = ev.attrs
    kind = (a.get("type") or "").strip().lower()
    names = ["title", "aria-label"]
    if ev.tag in ("img", "area") or (ev.tag == "input" and kind == "image"):
        names.append("alt")
    if ev.tag in ("input", "textarea"):
        names.append("placeholder")
    if ev.tag == "input" and kind in ("submit", "button", "reset"):
        names.append("value")
    if ev.tag == "meta" and (a.get("name") or a.get("property") or "").strip().lower() in META_TEXT:
        names.append("content")
    return [n for n in names if (a.get(n) or "").strip()]


def _attr_value_spans(raw: str) -> dict[str, tuple[int, int, str]]:
    """Where each attribute's value lies in a start tag's source: name -> (start, end, quote).

    html.parser gives attribute values but not their offsets; this scans the tag the way the HTML
    tokenizer does (name, optional "=", quoted or bare value). The caller checks the result against
    the parser's values, so a disagreement only means an attribute is left untranslated.
    """
    spans: dict[str, tuple[int, int, str]] = {}
    n, i = len(raw), 1
    while i < n and not (raw[i].isspace() or raw[i] in "/>"):
        i += 1  # the tag name
    while i < n:
        while i < n and (raw[i].isspace() or raw[i] == "/"):
            i += 1
        if i >= n or raw[i] == ">":
            break
        start = i
        i += 1  # a name may begin with "=" in the spec's tokenizer
        while i < n and not (raw[i].isspace() or raw[i] in "/>="):
            i += 1
        name = raw[start:i].lower()
        j = i
        while j < n and raw[j].isspace():
            j += 1
        if j >= n or raw[j] != "=":
            continue  # an attribute without a value
        j += 1
        while j < n and raw[j].isspace():
            j += 1
        if j < n and raw[j] in "\"'":
            close = raw.find(raw[j], j + 1)
            close = n if close < 0 else close
            spans.setdefault(name, (j + 1, close, raw[j]))
            i = close + 1
        else:
            end = j
            while end < n and not (raw[end].isspace() or raw[end] == ">"):
                end += 1
            spans.setdefault(name, (j, end, ""))
            i = end
    return spans
