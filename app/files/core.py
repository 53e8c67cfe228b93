"""What every file format shares: units, the document interface, errors and the "splice" document.

A splice document is the decoded file cut into literal pieces and translatable parts. Rebuilding joins
the literals with each part rendered from the translations, so whatever is not a unit is copied as it
was, and an identity translation (each unit's own text) gives back the input byte for byte.
"""

from __future__ import annotations

import codecs
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.errors import InvalidRequest

Fmt = Literal["plain", "markdown", "html"]


class UnsupportedFile(InvalidRequest, ValueError):
    """Unknown file type, or content that does not parse as its type (reported to the client as a 400)."""

    code = "unsupported_file"


class FileTooLarge(InvalidRequest, ValueError):
    """The file has more translatable units (or, for .docx, more unpacked bytes) than allowed."""

    code = "file_too_large"


@dataclass(frozen=True)
class Unit:
    """One piece of text to translate; `fmt` tells the service how to segment it and what to protect."""

    text: str
    fmt: Fmt


class FileDoc(ABC):
    """A parsed file: its units, in document order, and a way back to bytes from their translations."""

    def __init__(self, units: list[Unit]):
        self.units = units

    def rebuild(self, translations: Sequence[str]) -> bytes:
        if len(translations) != len(self.units):
            raise ValueError(f"expected {len(self.units)} translations, got {len(translations)}")
        return self._render(list(translations))

    @abstractmethod
    def _render(self, translations: list[str]) -> bytes: ...


class Part(Protocol):
    """Text rendered from translations. `stop`: it reads only units below this index; readers add a
    part's units before the part, so parts in document order have non-decreasing stops."""

    @property
    def stop(self) -> int: ...

    def render(self, translations: Sequence[str]) -> str: ...


class SpliceDoc(FileDoc):
    def __init__(self, units: list[Unit], parts: list[str | Part], bom: bool = False):
        super().__init__(units)
        self.parts = parts
        self.bom = bom

    def render_text(self, translations: Sequence[str]) -> str:
        """The document as text, without going through bytes (the text route's input had none)."""
        if len(translations) != len(self.units):
            raise ValueError(f"expected {len(self.units)} translations, got {len(translations)}")
        return "".join(p if isinstance(p, str) else p.render(translations) for p in self.parts)

    def _render(self, translations: list[str]) -> bytes:
        return encode_text(self.render_text(translations), self.bom)


class TextStream:
    """Renders a splice document front to back while its units' translations arrive in order: each
    call gives the parts that have just become complete, so what the calls give, joined, is
    render_text of all the translations (a streamed answer grows without waiting for the last unit)."""

    def __init__(self, doc: SpliceDoc):
        self.doc = doc
        self.translations: list[str] = []
        self.next = 0  # the first part not given out yet

    def add(self, translation: str) -> str:
        """The next unit's translation; returns the text that is complete now."""
        if len(self.translations) >= len(self.doc.units):
            raise ValueError(f"the document has {len(self.doc.units)} units")
        self.translations.append(translation)
        return self.take()

    def take(self) -> str:
        """The parts that need no unit beyond those added (the literal start of the document, at first)."""
        parts, out = self.doc.parts, []
        while self.next < len(parts) and (
            isinstance(parts[self.next], str) or parts[self.next].stop <= len(self.translations)
        ):
            part = parts[self.next]
            out.append(part if isinstance(part, str) else part.render(self.translations))
            self.next += 1
        return "".join(out)


class UnitList:
    """Collects units and stops as soon as there are too many, before a huge file is fully parsed."""

    def __init__(self, max_units: int):
        self.units: list[Unit] = []
        self.max_units = max_units

    def add(self, text: str, fmt: Fmt) -> int:
        if len(self.units) >= self.max_units:
            raise FileTooLarge(f"the file has more than {self.max_units} text units to translate")
        self.units.append(Unit(text, fmt))
        return len(self.units) - 1


@dataclass(frozen=True)
class Line:
    """A source line cut in three: markup or indentation before the text, the text, what follows it."""

    prefix: str
    content: str
    suffix: str  # trailing whitespace (a Markdown hard break is two spaces) and the line ending


@dataclass(frozen=True)
class LinesSpan:
    """A unit made of whole lines; its text is the lines' contents joined with "\\n".

    Rendering puts translated line i where source line i was, with that line's prefix and suffix, so
    indentation, list markers, quote markers and the newline style survive. Extra translated lines
    reuse the last line's prefix, or, with `max_lines`, are joined onto the last allowed line (a
    heading or table cell must stay on one line).
    """

    index: int
    lines: tuple[Line, ...]
    eol: str  # newline written after extra translated lines
    max_lines: int | None = None
    drop_blank: bool = False  # a blank line would end an SRT cue early

    @property
    def stop(self) -> int:
        return self.index + 1

    def render(self, translations: Sequence[str]) -> str:
        out = translations[self.index].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if self.drop_blank:
            out = [line for line in out if line.strip()] or [""]
        if self.max_lines is not None and len(out) > self.max_lines:
            keep = self.max_lines - 1
            out = out[:keep] + [" ".join(line.strip() for line in out[keep:])]
        n, m = len(self.lines), len(out)
        pieces = []
        for i, text in enumerate(out):
            src = self.lines[min(i, n - 1)]
            if i == m - 1:
                suffix = self.lines[-1].suffix  # may be "" at the end of a file without a final newline
            elif i < n - 1:
                suffix = src.suffix
            else:
                suffix = self.eol
            pieces.append(src.prefix + text + suffix)
        return "".join(pieces)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings; unlike str.splitlines only \\n, \\r\\n and \\r end a line."""
    return _LINE.findall(text)


def eol_of(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def split_line(line: str, prefix_len: int = 0) -> Line:
    """Cut a line (with its ending) into prefix, text, suffix; the first `prefix_len` chars are prefix."""
    body = line.rstrip("\r\n")
    rest = body[prefix_len:]
    text = rest.strip()
    lead = len(rest) - len(rest.lstrip()) if text else len(rest)
    return Line(body[: prefix_len + lead], text, body[prefix_len + lead + len(text) :] + eol_of(line))


def decode_text(data: bytes) -> tuple[str, bool]:
    """UTF-8 text and whether it had a byte order mark (written back as it was)."""
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text = data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnsupportedFile(
            f"file is not valid UTF-8 (bad byte at offset {e.start + (3 if bom else 0)}); save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise UnsupportedFile("file is not valid UTF-8 text: it contains NUL bytes (a binary file?)")
    return text, bom


def encode_text(text: str, bom: bool) -> bytes:
    # "replace": a stray surrogate in a translation must not fail the whole file
    return (codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8", errors="replace")
