"""Markdown (.md): one unit per block, with the block markup kept outside the unit where it is simple.

Units are paragraphs, list items, headings, quoted paragraphs, footnotes and table cells, sent with
fmt "markdown" so the service's segmenter protects inline markup (links, emphasis, code spans). List
markers, quote markers, heading hashes, indentation and table pipes stay in the file, never in a
unit. Front matter, fenced and indented code, HTML comments, link definitions and thematic breaks are
copied verbatim. This is a line-based reading of CommonMark/GFM, not a full parser: it covers the
block forms found in real documents and falls back to "the lines are one paragraph" otherwise.
"""

from __future__ import annotations

import re

from app.files.core import Line, LinesSpan, Part, SpliceDoc, UnitList, decode_text, eol_of, split_line, split_lines

# Possessive throughout: what follows these is never a space or ">", so giving characters back cannot
# help, and on a line of a million spaces it would cost a million tries each.
_QUOTES = r"[ \t]*+(?:>[ \t]?)*+[ \t]*+"
_FENCE = re.compile(_QUOTES + r"(`{3,}|~{3,}|\$\$(?=[ \t]*$))")
# Markup that opens a block, after optional quote markers: a list item (with an optional task box),
# a footnote definition or an ATX heading. Everything up to the text is the prefix.
_OPENER = re.compile(
    _QUOTES + r"(?:(?P<list>(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$)(?:\[[ xX]\][ \t]+)?)"
    r"|(?P<note>\[\^[^\]]+\]:[ \t]*)|(?P<head>#{1,6}(?:[ \t]+|$)))"
)
_CONTINUATION = re.compile(_QUOTES)
_CLOSING_HASHES = re.compile(r"(?<![ \t])[ \t]++#++[ \t]*+$")  # a search: anchored at the start of a space run
_BREAK = re.compile(r" {0,3}(?:(?:[-*_][ \t]*){3,}|=+[ \t]*)")  # thematic break or setext underline
_LINK_DEF = re.compile(r" {0,3}\[[^\]^][^\]]*\]:[ \t]*\S.*")
_TAGS_ONLY = re.compile(r"[ \t]*(?:<[^<>]*>[ \t]*)+")  # e.g. <div align="center">: no text of its own
_TABLE_DELIMITER = re.compile(r"[ \t]*+\|?+[ \t]*+:?+-++:?+[ \t]*+(?:\|[ \t]*+:?+-++:?+[ \t]*+)*+\|?+[ \t]*+")
_FRONT_MATTER = {"---": ("---", "..."), "+++": ("+++",)}
_CELL_TOKENS = re.compile(r"\\[\s\S]?|`+|\|")  # an escape and what it escapes, a backtick run, a pipe


def read_md(data: bytes, max_units: int) -> SpliceDoc:
    text, bom = decode_text(data)
    return read_markdown_text(text, max_units, bom)


def read_markdown_text(text: str, max_units: int, bom: bool = False) -> SpliceDoc:
    """read_md for text that never was bytes (/v1/translate's `format: markdown`)."""
    return _Reader(split_lines(text), UnitList(max_units)).read(bom)


class _Reader:
    def __init__(self, raw: list[str], units: UnitList):
        self.raw = raw
        self.body = [line.rstrip("\r\n") for line in raw]
        self.units = units
        self.parts: list[str | Part] = []
        self.block: list[Line] = []  # the paragraph or list item being read
        self.in_list = False  # indented lines after a list item continue it instead of being code
        self.default_eol = next((eol_of(line) for line in raw if eol_of(line)), "\n")

    def read(self, bom: bool) -> SpliceDoc:
        i = self._front_matter()
        prev_blank = True
        while i < len(self.raw):
            body = self.body[i]
            if body.strip() and body[:1] not in " \t>":
                self.in_list = False  # anything at the margin ends a list; a list item sets it again
            if not body.strip():
                i = self._literal(i, i + 1)
            elif (fence := _FENCE.match(body)) and not (fence.group(1)[0] == "`" and "`" in body[fence.end() :]):
                i = self._literal(i, self._fence_end(i, fence.group(1)))
            elif body.lstrip().startswith("<!--"):
                end = next((j for j in range(i, len(self.raw)) if "-->" in self.body[j]), len(self.raw) - 1)
                i = self._literal(i, end + 1)
            elif prev_blank and not self.in_list and (body.startswith("    ") or body.startswith("\t")):
                end = i + 1
                while end < len(self.raw) and (not self.body[end].strip() or self.body[end][:1] in " \t"):
                    end += 1
                i = self._literal(i, end)
            elif _BREAK.fullmatch(body) or _LINK_DEF.fullmatch(body) or _TAGS_ONLY.fullmatch(body):
                i = self._literal(i, i + 1)
            elif (
                "|" in body
                and i + 1 < len(self.raw)
                and "|" in self.body[i + 1]
                and _TABLE_DELIMITER.fullmatch(self.body[i + 1])
            ):
                i = self._table(i)
            else:
                self._text_line(i)
                i += 1
            prev_blank = not body.strip()
        self._close()
        return SpliceDoc(self.units.units, self.parts, bom)

    def _front_matter(self) -> int:
        """YAML (---) or TOML (+++) front matter at the very start is metadata, never translated."""
        closers = _FRONT_MATTER.get(self.body[0].rstrip()) if self.raw else None
        if closers:
            for j in range(1, len(self.raw)):
                if self.body[j].rstrip() in closers:
                    return self._literal(0, j + 1)
        return 0

    def _fence_end(self, i: int, fence: str) -> int:
        """Index after the closing fence; an unclosed fence runs to the end of the file, as in CommonMark."""
        for j in range(i + 1, len(self.raw)):
            close = _FENCE.match(self.body[j])
            if (
                close
                and close.group(1)[0] == fence[0]
                and len(close.group(1)) >= len(fence)
                and not self.body[j][close.end() :].strip()
            ):
                return j + 1
        return len(self.raw)

    def _literal(self, start: int, end: int) -> int:
        self._close()
        self.parts.append("".join(self.raw[start:end]))
        return end

    def _close(self, max_lines: int | None = None) -> None:
        if self.block:
            index = self.units.add("\n".join(line.content for line in self.block), "markdown")
            # Markdown renders a soft line break as a space, so extra translated lines are joined onto
            # the last source line rather than risk a new block (an unindented line ends a list item).
            eol = eol_of(self.block[0].suffix) or self.default_eol
            self.parts.append(LinesSpan(index, tuple(self.block), eol, max_lines or len(self.block)))
            self.block = []

    def _text_line(self, i: int) -> None:
        body, raw = self.body[i], self.raw[i]
        opener = _OPENER.match(body)
        if opener:
            self._close()
            if opener.end() >= len(body.rstrip()):  # an empty list item or heading: nothing to translate
                self._literal(i, i + 1)
                return
            if opener.group("head"):
                closing = _CLOSING_HASHES.search(body)
                line = split_line(raw, opener.end())
                if closing and closing.start() >= opener.end():  # "## Title ##": the hashes are markup
                    cut = closing.start() - len(line.prefix)
                    line = Line(line.prefix, line.content[:cut].rstrip(), body[closing.start() :] + eol_of(raw))
                self.block = [line]
                self._close(max_lines=1)
                return
            self.in_list = self.in_list or bool(opener.group("list"))
            self.block = [split_line(raw, opener.end())]
            return
        line = split_line(raw, _CONTINUATION.match(body).end())
        if line.content:
            self.block.append(line)
        else:  # a bare ">" is a blank line inside a quote: it ends the paragraph
            self._literal(i, i + 1)

    def _table(self, i: int) -> int:
        """Each non-empty cell of the header and body rows is a one-line unit; pipes stay in the file."""
        self._close()
        self._row(i)
        self.parts.append(self.raw[i + 1])  # the |---|:--:| delimiter row
        end = i + 2
        while end < len(self.raw) and self.body[end].strip() and "|" in self.body[end]:
            self._row(end)
            end += 1
        return end

    def _row(self, i: int) -> None:
        body = self.body[i]
        start = 0
        for cut in [*_cell_pipes(body), len(body)]:
            cell = split_line(body[start:cut])
            if cell.content:
                self.parts.append(cell.prefix)
                index = self.units.add(cell.content, "markdown")
                self.parts.append(LinesSpan(index, (Line("", cell.content, ""),), "", max_lines=1))
                self.parts.append(cell.suffix)
            else:
                self.parts.append(body[start:cut])
            self.parts.append(body[cut : cut + 1])  # the pipe ("" after the last cell)
            start = cut + 1
        self.parts.append(eol_of(self.raw[i]))


def _cell_pipes(row: str) -> list[int]:
    """Positions of the pipes that separate cells: not escaped (\\|) and not inside a code span."""
    pipes, tick = [], 0
    for m in _CELL_TOKENS.finditer(row):  # only the characters that matter, found by the regex engine
        token = m.group()
        if token[0] == "`":
            tick = 0 if tick == len(token) else (tick or len(token))
        elif token == "|" and not tick:
            pipes.append(m.start())
    return pipes
