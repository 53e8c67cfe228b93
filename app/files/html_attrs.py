"""HTML attributes that people read (alt, title, ...): found in a start tag's source and rewritten in place.

Each such attribute value is a plain unit of its own. Only the value's characters are replaced, so
the tag keeps its other attributes, their order, quoting and spacing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from app.files.core import UnitList

META_TEXT = frozenset("description og:title og:description twitter:title twitter:description".split())


@dataclass(frozen=True)
class AttrEdit:
    start: int  # the value's span in the tag's source text
    end: int
    quote: str  # '"', "'" or "" (unquoted)
    lead: str  # whitespace around the value, kept outside the unit
    trail: str
    index: int

    def render(self, raw: str, translations: Sequence[str]) -> str:
        source = raw[self.start : self.end]
        value = self.lead + translations[self.index] + self.trail
        if value == html.unescape(source):
            return source  # unchanged: keep the original spelling of its character references
        if not self.quote:
            return '"' + html.escape(value, quote=True) + '"'
        entity = "&quot;" if self.quote == '"' else "&#x27;"
        return html.escape(value, quote=False).replace(self.quote, entity)


@dataclass(frozen=True)
class TagPart:
    """A start tag with translatable attribute values; the rest of the tag is copied."""

    raw: str
    edits: tuple[AttrEdit, ...]

    @property
    def stop(self) -> int:
        return self.edits[-1].index + 1  # edits are in source order, their units added in that order

    def render(self, translations: Sequence[str]) -> str:
        out, pos = [], 0
        for edit in self.edits:
            out += [self.raw[pos : edit.start], edit.render(self.raw, translations)]
            pos = edit.end
        return "".join(out) + self.raw[pos:]


def tag_part(raw: str, tag: str, attrs: dict[str, str | None], units: UnitList) -> TagPart | None:
    """Register the tag's readable attribute values as units (in source order); None if it has none.

    `attrs` are html.parser's values for the tag (first of duplicates), used to check our own scan.
    """
    readable = readable_attrs(tag, attrs)
    if not readable:
        return None
    spans = _value_spans(raw)
    edits = []
    for name in sorted(readable, key=lambda n: spans.get(n, (0,))[0]):
        value = attrs[name] or ""
        if name not in spans or html.unescape(raw[spans[name][0] : spans[name][1]]) != value:
            continue  # our scan disagrees with the parser's: leave the attribute alone
        text = value.strip()
        lead = value[: len(value) - len(value.lstrip())]
        start, end, quote = spans[name]
        edits.append(AttrEdit(start, end, quote, lead, value[len(lead) + len(text) :], units.add(text, "plain")))
    return TagPart(raw, tuple(edits)) if edits else None


def readable_attrs(tag: str, attrs: dict[str, str | None]) -> list[str]:
    """The attributes of this start tag that people read (as tooltips, alt text...), and that have text."""
    kind = (attrs.get("type") or "").strip().lower()
    names = ["title", "aria-label"]
    if tag in ("img", "area") or (tag == "input" and kind == "image"):
        names.append("alt")
    if tag in ("input", "textarea"):
        names.append("placeholder")
    if tag == "input" and kind in ("submit", "button", "reset"):
        names.append("value")
    if tag == "meta" and (attrs.get("name") or attrs.get("property") or "").strip().lower() in META_TEXT:
        names.append("content")
    return [n for n in names if (attrs.get(n) or "").strip()]


def _value_spans(raw: str) -> dict[str, tuple[int, int, str]]:
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
