"""Plain text (.txt) and SubRip subtitles (.srt): line-based formats kept line for line."""

from __future__ import annotations

import re

from app.files.core import (
    Line,
    LinesSpan,
    Part,
    SpliceDoc,
    UnitList,
    UnsupportedFile,
    decode_text,
    eol_of,
    split_line,
    split_lines,
)


def read_txt(data: bytes, max_units: int) -> SpliceDoc:
    """One unit per paragraph (a run of non-blank lines); blank lines and newlines are copied as they are."""
    text, bom = decode_text(data)
    lines = split_lines(text)
    default_eol = next((eol_of(line) for line in lines if eol_of(line)), "\n")
    units = UnitList(max_units)
    parts: list[str | Part] = []
    para: list[Line] = []

    def close() -> None:
        if para:
            index = units.add("\n".join(line.content for line in para), "plain")
            parts.append(LinesSpan(index, tuple(para), eol_of(para[0].suffix) or default_eol))
            para.clear()

    for raw in lines:
        line = split_line(raw)
        if line.content:
            para.append(line)
        else:
            close()
            parts.append(raw)
    close()
    return SpliceDoc(units.units, parts, bom)


# Hours may exceed two digits in long recordings and some tools write "." before the milliseconds;
# anything after the end time (position hints such as "X1:40 X2:600") is kept as it is.
_TIMING = re.compile(r"[ \t]*\d+:\d\d:\d\d[,.]\d{1,3}[ \t]*-->[ \t]*\d+:\d\d:\d\d[,.]\d{1,3}(?:[ \t].*)?")
_INDEX = re.compile(r"[ \t]*[0-9]+[ \t]*")


def read_srt(data: bytes, max_units: int) -> SpliceDoc:
    """One unit per cue: its text lines joined with "\\n"; numbers, timings and blank lines are literal."""
    text, bom = decode_text(data)
    raw = split_lines(text)
    lines = [line.rstrip("\r\n") for line in raw]
    units = UnitList(max_units)
    parts: list[str | Part] = []

    def cue_header(i: int) -> int:
        """How many lines starting at i form a cue header (number + timing, or a bare timing); 0: none."""
        if _TIMING.fullmatch(lines[i]):
            return 1
        if _INDEX.fullmatch(lines[i]) and i + 1 < len(lines) and _TIMING.fullmatch(lines[i + 1]):
            return 2
        return 0

    i, cues = 0, 0
    while i < len(lines):
        if not lines[i].strip():
            parts.append(raw[i])
            i += 1
            continue
        size = cue_header(i)
        if not size:
            raise UnsupportedFile(f"not a valid SRT file: line {i + 1} should be a cue number or a timing line")
        parts.append("".join(raw[i : i + size]))
        i += size
        cues += 1
        cue: list[Line] = []
        # A cue ends at a blank line; a header right after text also starts a new cue, because some
        # files omit the blank line between cues.
        while i < len(lines) and lines[i].strip() and not cue_header(i):
            cue.append(split_line(raw[i]))
            i += 1
        if cue:
            index = units.add("\n".join(line.content for line in cue), "plain")
            parts.append(LinesSpan(index, tuple(cue), eol_of(cue[0].suffix) or "\n", drop_blank=True))
    if not cues:
        raise UnsupportedFile("not a valid SRT file: no subtitle cues found")
    return SpliceDoc(units.units, parts, bom)
