"""html.parser in linear time on any input, with the source offset of each event.

Python 3.11.7's parser (the one this service runs on) recovers from a construct that never ends
("<a b='", "<!-- " without "-->") by re-parsing from the next "<" at end of input, and each attempt
scans to the end again: "<a " repeated 5,000 times took 4.4 s, and the time grows with the square of
the input. CPython's security fix (gh-135462, in 3.11.13) follows HTML5 instead: such a construct
runs to the end of the document. This class does the same: the rest is one undeclared event (kept
verbatim, never translated), or text when no ">" is left, which is where 3.11.7 ends up too.
Everything else is html.parser's own work, which is linear: a construct it completes consumes what
it scanned, and the first one it cannot complete ends the document.

It also never raises (3.11.7 raised AssertionError on "<![" without a known keyword, where HTML5 has a
bogus comment), and it does not pay a Python round trip per character for a "<" or "&" that starts
nothing ("a < b", or a MiB of "<"): html.parser hands each to handle_data alone, 10 s for a MiB.
Such characters are fed as a neutral one of the same length, which every pattern of html.parser
treats alike, so they join the text around them and no position moves; start tags that held one
are re-read from the source (raw_starttag, starttag_attrs).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_MARKED_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_MARKED_CLOSE = re.compile(r"]\s*]\s*>")  # <![CDATA[ ... ]]>
_MS_MARKED_CLOSE = re.compile(r"]\s*>")  # Office's <![if ...]>
_NEWLINE = re.compile("\n")
_LONE = re.compile(r"<(?![a-zA-Z/!?])|&(?![a-zA-Z#])")  # a "<" or "&" html.parser reads as one character of text
_NEUTRAL = "\x01"  # neither space, letter, digit, quote nor any of < > / = & - ] \x00: text wherever it stands


class Tokenizer(HTMLParser):
    """Subclasses record events in the handle_* methods, using position() for where each starts."""

    def __init__(self, text: str, convert_charrefs: bool):
        super().__init__(convert_charrefs=convert_charrefs)
        self.text = text
        self._line_starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]
        self.unfinished: int | None = None  # where a construct that never ends starts

    def position(self) -> int:
        """Where the event being handled starts in the text."""
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def tokenize(self) -> None:
        self.feed(_LONE.sub(_NEUTRAL, self.text))
        self.close()

    def raw_starttag(self, start: int) -> str:
        """The source of the start tag being handled, which starts at `start`."""
        fed = self.get_starttag_text() or ""
        return fed if _NEUTRAL not in fed else self.text[start : start + len(fed)]

    def starttag_attrs(self, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        """The start tag's attributes as html.parser reads them from the source."""
        if _NEUTRAL not in (self.get_starttag_text() or ""):
            return attrs
        reader = _AttributeReader()
        reader.feed(self.raw_starttag(self.position()))
        reader.close()
        return reader.attrs

    def _unfinished(self, i: int, k: int) -> int:
        """k, or, if the construct at i cannot complete, the end of the input: tokenize() feeds all of
        it at once, so what cannot complete now never will (and is not scanned again by close())."""
        if k >= 0:
            return k
        rest = self.rawdata[i:]
        self.unfinished = self.position()
        if ">" in rest:
            self.unknown_decl(rest)  # HTML5: the construct runs to the end
        else:
            self.handle_data(rest)  # where 3.11.7 ends up too: nothing can close, all is text
        return len(self.rawdata)

    def parse_starttag(self, i: int) -> int:
        return self._unfinished(i, super().parse_starttag(i))

    def parse_endtag(self, i: int) -> int:
        return self._unfinished(i, super().parse_endtag(i))

    def parse_comment(self, i: int, report: int = 1) -> int:
        return self._unfinished(i, super().parse_comment(i, report))

    def parse_pi(self, i: int) -> int:
        return self._unfinished(i, super().parse_pi(i))

    def parse_html_declaration(self, i: int) -> int:
        return self._unfinished(i, super().parse_html_declaration(i))

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        """<![CDATA[...]]> and <![if ...]>; any other "<![" is a bogus comment, as in HTML5."""
        rawdata = self.rawdata
        if i + 3 == len(rawdata):
            return -1  # incomplete
        name = _MARKED_NAME.match(rawdata, i + 3)
        if name is None:
            return self.parse_bogus_comment(i)
        if name.end() == len(rawdata):
            return -1
        keyword = name.group().strip().lower()
        if keyword in {"temp", "cdata", "ignore", "include", "rcdata"}:
            close = _MARKED_CLOSE.search(rawdata, i + 3)
        elif keyword in {"if", "else", "endif"}:
            close = _MS_MARKED_CLOSE.search(rawdata, i + 3)
        else:
            return self.parse_bogus_comment(i)
        if close is None:
            return -1
        if report:
            self.unknown_decl(rawdata[i + 3 : close.start()])
        return close.end()


class _AttributeReader(HTMLParser):
    """html.parser on one start tag's source, for its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.attrs = attrs

    handle_startendtag = handle_starttag
