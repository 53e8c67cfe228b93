"""Cutting a text into pieces to translate, and masking what the model must copy verbatim.

Round trip: "".join(p.text for p in split(text, ...)) == text for every input, so the service rebuilds a
text by replacing the translatable pieces; structure (line breaks, indentation, list marks) stays in the
pieces that are not translated. Markdown and HTML documents are parsed by their readers in app/files,
never here: a unit of theirs arrives here only to be cut into sentences, its inline markup masked.
app/translate/masking.py finds what to mask.

Everything here takes time linear in the text: patterns that scan are anchored where a match can start
and possessive where giving characters back cannot help, and chunking looks candidates up by binary
search instead of rescanning from each chunk's start.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from app.translate.masking import SLOT as _SLOT
from app.translate.masking import has_words, spans

FORMATS = ("plain", "markdown", "html")


@dataclass(frozen=True)
class Piece:
    text: str
    translate: bool


@dataclass(frozen=True)
class Masked:
    text: str
    slots: dict[str, str]  # placeholder token ("⟦0⟧") -> the original text it stands for


def protect(segment: str) -> Masked:
    """Replace what the model must copy verbatim with ⟦n⟧ tokens; identical originals share a token."""
    slots: dict[str, str] = {}
    tokens: dict[str, str] = {}  # original -> token
    parts, last = [], 0
    for start, end in spans(segment):
        token = tokens.setdefault(segment[start:end], f"⟦{len(tokens)}⟧")
        slots[token] = segment[start:end]
        parts += [segment[last:start], token]
        last = end
    return Masked("".join([*parts, segment[last:]]), slots)


def restore(text: str, slots: dict[str, str]) -> tuple[str, list[str]]:
    """Put the originals back; also return the slot keys the model dropped.

    Takes "⟦ 0 ⟧", "[[0]]", "〚0〛" and full-width digits too. A ⟦n⟧ the model invented is removed:
    no legitimate text holds one, since protect masks any that were in the source.
    """
    by_number = {int(_SLOT.fullmatch(key)[1]): (key, original) for key, original in slots.items()}
    found = {int(m[1]) for m in _SLOT.finditer(text)}
    # One pass: restored originals are never scanned again, so nested masking stays correct.
    restored = _SLOT.sub(lambda m: by_number.get(int(m[1]), ("", "" if m[0].startswith("⟦") else m[0]))[1], text)
    return restored, [key for number, (key, _) in sorted(by_number.items()) if number not in found]


# --- sentences --------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    "e.g. i.e. etc. vs. cf. al. dr. mr. mrs. ms. prof. sr. jr. st. mt. no. nos. nr. fig. figs. eq. approx. inc. ltd. "
    "co. corp. dept. vol. pp. ed. est. rev. gen. gov. ca. bzw. usw. z.b. d.h. jan. feb. mar. apr. jun. jul. aug. "
    "sep. sept. oct. nov. dec. u.s. u.k. a.m. p.m. ph.d.".split()
)
_CLOSERS = "\"'”’)\\]»」』）】》"
_PUNCT = "[.!?…।؟۔]"
# Anchored at the start of a run of punctuation: from inside a run the same lookahead fails again.
_LATIN_END = re.compile(rf"(?<!{_PUNCT}){_PUNCT}++[{_CLOSERS}]*+(?=\s++(\S))")
_CJK_END = re.compile(
    rf"(?:[。！？；]+|(?<=[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af])(?:…+|\.{{3,}}))"
    rf"[{_CLOSERS}]*"
)
_DOTTED = re.compile(r"(?:\w\.)+\w")
_SPACES = re.compile(r"\s*")
_SPACE_RUN = re.compile(r"\s+")
_CLAUSE = re.compile(r"[,;:，、；：](?=\s)|[，、；：]")
# A hard cut steps back over combining marks to keep them on their letter, but no further than the
# stream-safe limit of Unicode (UAX #15: 30 non-starters in a row): a run of a million marks is an attack.
_MAX_MARKS = 30


def _inside(pos: int, spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The protected span that pos falls strictly inside, if any (spans are sorted and disjoint)."""
    i = bisect_left(spans, (pos,)) - 1
    return spans[i] if i >= 0 and spans[i][0] < pos < spans[i][1] else None


def _word_before(text: str, end: int) -> str:
    """The non-space characters just before end, looking back 40 characters at most."""
    window = text[max(0, end - 40) : end]
    return window.rsplit(None, 1)[-1] if window and not window[-1].isspace() else ""


def _sentence_ends(text: str, spans: list[tuple[int, int]]) -> list[int]:
    ends = [m.end() for m in _CJK_END.finditer(text) if m.end() < len(text) and not _inside(m.start() + 1, spans)]
    for m in _LATIN_END.finditer(text):
        word = _word_before(text, m.start()).lstrip("([\"'“‘")
        # "Dr. Smith", "J. K. Rowling", dotted ones not on the list ("U.S."), "e.g. the", "3 p.m. today"
        abbreviation = m[0] == "." and (
            (word + ".").lower() in _ABBREVIATIONS or _DOTTED.fullmatch(word) or (len(word) == 1 and word.isalpha())
        )
        if not (abbreviation or m[1].islower() or _inside(m.start() + 1, spans)):
            ends.append(m.end())
    return sorted(set(ends))


def _break(text: str, start: int, limit: int, ends: list[int], spans: list[tuple[int, int]]) -> int:
    """The furthest good place to end a chunk: a sentence end, else a clause break, else a space."""
    candidates = (  # each computed only if the one before has no fit
        lambda: ends[bisect_right(ends, start) : bisect_right(ends, limit)],  # the character past the limit
        lambda: [m.end() for m in _CLAUSE.finditer(text, start, limit + 1)],  # shows whether a break fits
        lambda: [m.start() for m in _SPACE_RUN.finditer(text, start, limit + 1)],
    )
    for found in candidates:
        for pos in reversed(found()):
            if start < pos <= limit and not _inside(pos, spans):
                return pos
    pos = limit  # no break at all (CJK without punctuation): cut hard, but not through a URL or a mark
    if span := _inside(pos, spans):
        pos = span[0] if span[0] > start else span[1]
    stop = max(start + 1, pos - _MAX_MARKS)
    while stop < pos < len(text) and unicodedata.category(text[pos]).startswith("M"):
        pos -= 1
    return pos


def _chunks(text: str, max_chars: int, protected: list[tuple[int, int]]) -> list[Piece]:
    """Whole sentences packed into chunks of at most max_chars; the spaces between chunks stay out."""
    ends = _sentence_ends(text, protected)
    pieces, start = [], 0
    while start < len(text):
        end = len(text) if len(text) - start <= max_chars else _break(text, start, start + max_chars, ends, protected)
        after = _SPACES.match(text, end).end()
        pieces += [Piece(text[start:end], has_words(text[start:end])), Piece(text[end:after], False)]
        start = after
    return pieces


def _content(text: str, max_chars: int) -> list[Piece]:
    """One run of text: surrounding whitespace apart, then one piece or sentence chunks."""
    core = text.strip()
    if not core:
        return [Piece(text, False)]
    lead = len(text) - len(text.lstrip())
    protected = spans(core) if len(core) > max_chars else None  # chunking needs them all
    middle = (
        [Piece(core, False)]
        if not has_words(core, protected)
        else [Piece(core, True)]
        if len(core) <= max_chars
        else _chunks(core, max_chars, protected)
    )
    return [Piece(text[:lead], False), *middle, Piece(text[lead + len(core) :], False)]


# --- lines -------------------------------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_PREFIX = re.compile(
    r"[ \t\u3000]*(?:(?:"
    r">[ \t>]*"  # blockquote, e-mail quoting
    r"|#{1,6}[ \t]+"  # heading
    r"|[-*+•◦▪‣·–—][ \t]+(?:\[[ xX]\][ \t]+)?"  # bullet, task box
    r"|(?:\d{1,9}[.)]|\(\d{1,9}\)|\(?[a-zA-Z]\)|\(?[ivxlcdm]{1,6}\))[ \t]+"  # 1.  2)  (3)  (a)  b)  (iv)
    r"|(?:[一二三四五六七八九十百]+|\d{1,9})、|（[一二三四五六七八九十\d]{1,4}）|\([一二三四五六七八九十]{1,4}\)|[\u2460-\u2473\u2776-\u277f]"
    r")[ \t\u3000]*)*"
)


def _line(line: str, max_chars: int) -> list[Piece]:
    body = line.rstrip("\r\n")
    prefix = _PREFIX.match(body).end()
    return [Piece(body[:prefix], False), *_content(body[prefix:], max_chars), Piece(line[len(body) :], False)]


def _lines(text: str, max_chars: int) -> list[Piece]:
    return [p for m in _LINE.finditer(text) if m.group() for p in _line(m.group(), max_chars)]


def split(text: str, fmt: str = "plain", max_chars: int = 400) -> list[Piece]:
    """Pieces whose texts concatenate to `text`, cut where the format allows.

    plain: a document; each line is a unit, its list, heading and quote marks kept out of the pieces.
    markdown: one unit of app.files.markdown (a block's lines, its block markup already outside): line by
    line, as plain. html: one unit of app.files.html (a run of text and inline tags): one run, newlines
    included. A unit over max_chars is cut into sentences packed up to it, never through a masked span.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    raw = _content(text, max_chars) if fmt == "html" else _lines(text, max_chars)
    merged: list[Piece] = []
    structure: list[str] = []  # neighbouring structure, fused into one piece (joined once: linear)
    for piece in raw:
        if piece.translate:
            if structure:
                merged.append(Piece("".join(structure), False))
                structure = []
            merged.append(piece)
        elif piece.text:
            structure.append(piece.text)
    if structure:
        merged.append(Piece("".join(structure), False))
    return merged
