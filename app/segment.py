"""Cutting a document into pieces to translate, and masking what the model must copy verbatim.

`split` guarantees the round trip: "".join(p.text for p in pieces) == text, for every input, so the
service reassembles a translated document by replacing translatable pieces and nothing else.
Structure (line breaks, indentation, list and heading marks, code, markup) lives in the pieces
that are not translated; a translatable piece never holds a line break in plain text or markdown.

`protect` swaps URLs, e-mails, code, tags and format specifiers for ⟦n⟧ tokens before a piece goes
to the model, and `restore` puts them back, tolerating the ways models mangle such tokens.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

FORMATS = ("plain", "markdown", "html")


@dataclass(frozen=True)
class Piece:
    text: str
    translate: bool


@dataclass(frozen=True)
class Masked:
    text: str
    slots: dict[str, str]  # placeholder token ("⟦0⟧") -> the original text it stands for


# What restore recognises as a placeholder; protect masks any such text already in the source, so a
# literal "[[3]]" in a document can never be mistaken for a slot.
_SLOT = re.compile(r"(?:⟦|〚|\[\s*\[)\s*(\d+)\s*(?:⟧|〛|\]\s*\])")
# Printable ASCII but space, quote, angle brackets, backtick: a URL stops at the first CJK character,
# which is how URLs sit in Chinese text ("访问https://x.cn获取").
_URL_CHAR = r"[!#-;=?-_a-~]"
_PROTECT = re.compile("|".join([
    _SLOT.pattern,
    r"(?P<ticks>`+)(?!`).+?(?<!`)(?P=ticks)(?!`)",  # inline code span
    r"<(?P<tag>code|kbd|samp|var|tt)\b[^>]*>.*?</(?P=tag)\s*>",  # HTML code element, content included
    r"<!--.*?-->",
    r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>",  # HTML/XML tag
    r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});",  # character reference
    r"(?<=\]\()[^()\s]+(?:\([^()\s]*\)[^()\s]*)*(?=[)\s])",  # markdown link target (relative ones too)
    rf"(?P<url>(?:(?:https?|ftp)://|www\.){_URL_CHAR}+)",
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",  # e-mail
    r"\{\{.*?\}\}|\$\{[^{}\n]*\}|\{[A-Za-z_0-9][\w.\-]*(?:[!:][^{}\n]*)?\}",  # {name} {0} {{x}} ${x}
    # printf family: %s %d %1$s %(name)s %.2f %ld %@ %%; never "50% off" or "20%off".
    r"%(?:\d+\$)?(?:\([A-Za-z_]\w*\))?[-+#0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?"
    r"[diouxXeEfFgGcrsa@%](?![A-Za-z])",
]), re.IGNORECASE | re.DOTALL)


def _spans(text: str) -> list[tuple[int, int]]:
    """Where protected text lies. A URL gives back the punctuation that ends the sentence after it."""
    out = []
    for m in _PROTECT.finditer(text):
        start, end = m.span()
        while m.group("url") and end > start:
            last = text[end - 1]
            opener = {")": "(", "]": "["}.get(last)
            if last in ".,;:!?'\"*_" or (opener and text.count(opener, start, end) < text.count(last, start, end)):
                end -= 1  # sentence punctuation, or a ")" the URL never opened: "(see https://x.io)."
            else:
                break
        out.append((start, end))
    return out


def protect(segment: str) -> Masked:
    """Replace what the model must copy verbatim with ⟦n⟧ tokens; identical originals share a token."""
    slots: dict[str, str] = {}
    by_text: dict[str, str] = {}
    parts, last = [], 0
    for start, end in _spans(segment):
        original = segment[start:end]
        if original not in by_text:
            by_text[original] = f"⟦{len(by_text)}⟧"
            slots[by_text[original]] = original
        parts += [segment[last:start], by_text[original]]
        last = end
    parts.append(segment[last:])
    return Masked("".join(parts), slots)


def restore(text: str, slots: dict[str, str]) -> tuple[str, list[str]]:
    """Put the originals back; return the text and the slot keys the model dropped.

    Accepts "⟦ 0 ⟧", "[[0]]", "〚0〛" and full-width digits. A ⟦n⟧ the model invented is removed: no
    legitimate text can contain one (protect masks any that were in the source).
    """
    by_number = {int(_SLOT.fullmatch(k).group(1)) if _SLOT.fullmatch(k) else int(k): (k, v)
                 for k, v in slots.items()}
    seen: set[str] = set()

    def put_back(m: re.Match) -> str:
        hit = by_number.get(int(m.group(1)))
        if hit is None:
            return "" if m.group(0).startswith("⟦") else m.group(0)
        seen.add(hit[0])
        return hit[1]

    # One pass: restored originals are never scanned again, so nested masking stays correct.
    restored = _SLOT.sub(put_back, text)
    missing = [key for _, (key, _) in sorted(by_number.items()) if key not in seen]
    return restored, missing


def _translatable(text: str) -> bool:
    """Worth sending to the model: some letter remains once protected spans are taken out."""
    masked = _PROTECT.sub(" ", text)
    return any(unicodedata.category(c).startswith("L") for c in masked)


# --- sentences --------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    "e.g. i.e. etc. vs. cf. al. dr. mr. mrs. ms. prof. sr. jr. st. mt. no. nos. nr. fig. figs. eq. "
    "approx. inc. ltd. co. corp. dept. vol. pp. ed. est. rev. gen. gov. ca. bzw. usw. z.b. d.h. "
    "jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec. u.s. u.k. a.m. p.m. ph.d.".split())
_CLOSERS = "\"'”’)\\]»」』）】》"
_LATIN_END = re.compile(rf"[.!?…।؟۔]+[{_CLOSERS}]*(?=\s+(\S))")
_CJK_CHARS = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_END = re.compile(rf"(?:[。！？；]+|(?<=[{_CJK_CHARS}])(?:…+|\.{{3,}}))[{_CLOSERS}]*")
_CLAUSE = re.compile(r"[,;:，、；：](?=\s)|[，、；：]")


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < pos < end for start, end in spans)


def _sentence_ends(text: str, spans: list[tuple[int, int]]) -> list[int]:
    ends = []
    for m in _LATIN_END.finditer(text):
        if _inside(m.start() + 1, spans) or m.group(1).islower():  # "e.g. the", "3 p.m. today"
            continue
        if m.group().startswith(".") and not m.group().startswith(".."):
            i = m.start()
            while i > 0 and not text[i - 1].isspace():
                i -= 1
            word = text[i:m.start()].lstrip("([\"'“‘")
            if (word + ".").lower() in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue  # "Dr. Smith", "J. K. Rowling"
            if re.fullmatch(r"(?:\w\.)+\w", word):  # "U.S", "e.g" without the list
                continue
        ends.append(m.end())
    ends += [m.end() for m in _CJK_END.finditer(text) if m.end() < len(text) and not _inside(m.start() + 1, spans)]
    return sorted(set(ends))


def _cut(text: str, start: int, limit: int, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """Where to break an over-long sentence: (end of this part, start of the next)."""
    window = text[start:limit]
    for finder in (lambda: [start + m.end() for m in _CLAUSE.finditer(window)],
                   lambda: [start + m.start() for m in re.finditer(r"\s", window)]):
        for pos in reversed(finder()):
            if pos > start and not _inside(pos, spans):
                return pos, _skip_space(text, pos)
    pos = limit  # no break at all (CJK without punctuation): cut hard, but not through a URL or a mark
    for s, e in spans:
        if s < pos < e:
            pos = s if s > start else e
    while start + 1 < pos < len(text) and unicodedata.combining(text[pos]):
        pos -= 1
    return pos, pos


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _chunks(text: str, max_chars: int) -> list[Piece]:
    """Sentences packed into chunks of at most max_chars; the spaces between chunks stay out."""
    spans = _spans(text)
    units, start = [], 0
    for end in [*_sentence_ends(text, spans), len(text)]:
        start = _skip_space(text, start)
        while end - start > max_chars:
            cut, start_next = _cut(text, start, start + max_chars, spans)
            units.append((start, cut))
            start = start_next
        if end > start:
            units.append((start, end))
        start = max(start, end)
    pieces: list[Piece] = []
    chunk_start, chunk_end = units[0]
    for unit_start, unit_end in [*units[1:], (len(text), len(text))]:
        if unit_end - chunk_start <= max_chars and unit_start < len(text):
            chunk_end = unit_end
            continue
        chunk = text[chunk_start:chunk_end]
        pieces += [Piece(chunk, _translatable(chunk)), Piece(text[chunk_end:unit_start], False)]
        chunk_start, chunk_end = unit_start, unit_end
    return pieces


def _content(text: str, max_chars: int) -> list[Piece]:
    """One run of text: surrounding whitespace apart, then one piece or sentence chunks."""
    core = text.strip()
    if not core:
        return [Piece(text, False)]
    lead = len(text) - len(text.lstrip())
    middle = ([Piece(core, False)] if not _translatable(core) else
              [Piece(core, True)] if len(core) <= max_chars else _chunks(core, max_chars))
    return [Piece(text[:lead], False), *middle, Piece(text[lead + len(core):], False)]


# --- plain text and markdown ------------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_PREFIX = re.compile(
    r"[ \t\u3000]*(?:(?:"
    r">[ \t>]*"  # blockquote, e-mail quoting
    r"|#{1,6}[ \t]+"  # heading
    r"|[-*+•◦▪‣·–—][ \t]+(?:\[[ xX]\][ \t]+)?"  # bullet, task box
    r"|(?:\d{1,9}[.)]|\(\d{1,9}\)|\(?[a-zA-Z]\)|\(?[ivxlcdm]{1,6}\))[ \t]+"  # 1.  2)  (3)  (a)  b)  (iv)
    r"|(?:[一二三四五六七八九十百]+|\d{1,9})、|（[一二三四五六七八九十\d]{1,4}）|\([一二三四五六七八九十]{1,4}\)|[\u2460-\u2473\u2776-\u277f]"
    r")[ \t\u3000]*)*")
_HEADING_CLOSE = re.compile(r"[ \t]+#+[ \t]*$")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_DELIMITER_ROW = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")  # |---|:-:|
_CELL_SEP = re.compile(r"(?<!\\)\|")


def _line(line: str, max_chars: int, markdown: bool) -> list[Piece]:
    body = line.rstrip("\r\n")
    prefix = _PREFIX.match(body).end()
    rest, suffix = body[prefix:], ""
    if markdown and "#" in body[:prefix] and (m := _HEADING_CLOSE.search(rest)):
        rest, suffix = rest[:m.start()], rest[m.start():]  # "## Title ##": closing marks stay
    return [Piece(body[:prefix], False), *_content(rest, max_chars), Piece(suffix + line[len(body):], False)]


def _table_row(line: str, max_chars: int) -> list[Piece]:
    body = line.rstrip("\r\n")
    pieces: list[Piece] = []
    for i, cell in enumerate(_CELL_SEP.split(body)):
        pieces += [Piece("|" if i else "", False), *_content(cell, max_chars)]
    return [*pieces, Piece(line[len(body):], False)]


def _table_rows(lines: list[str]) -> set[int]:
    """Lines of GFM tables: a paragraph with a delimiter row, or lines framed by pipes."""
    rows: set[int] = set()
    start = 0
    for i in range(len(lines) + 1):
        if i == len(lines) or not lines[i].strip():
            para = range(start, i)
            if any("|" in lines[j] and _DELIMITER_ROW.fullmatch(lines[j].rstrip("\r\n")) for j in para):
                rows.update(j for j in para if _CELL_SEP.search(lines[j]))
            start = i + 1
        elif lines[i].strip().startswith("|") and lines[i].strip().endswith("|") and len(lines[i].strip()) > 1:
            rows.add(i)
    return rows


def _split_lines(text: str, max_chars: int, markdown: bool) -> list[Piece]:
    lines = [m.group() for m in _LINE.finditer(text) if m.group()]
    pieces: list[Piece] = []
    i = 0
    if markdown and lines and lines[0].rstrip() == "---":  # YAML front matter: metadata, not prose
        close = next((j for j in range(1, len(lines)) if lines[j].rstrip() in ("---", "...")), None)
        if close is not None:
            pieces.append(Piece("".join(lines[:close + 1]), False))
            i = close + 1
    rows = _table_rows(lines) if markdown else set()
    while i < len(lines):
        fence = _FENCE.match(lines[i]) if markdown else None
        if fence:  # fenced code, up to a closing fence of the same kind and length, or the end
            mark = fence.group(1)
            closing = re.compile(rf"[ \t]*{re.escape(mark[0])}{{{len(mark)},}}[ \t]*")
            end = next((j for j in range(i + 1, len(lines)) if closing.fullmatch(lines[j].rstrip("\r\n"))),
                       len(lines) - 1)
            pieces.append(Piece("".join(lines[i:end + 1]), False))
            i = end + 1
            continue
        pieces += _table_row(lines[i], max_chars) if i in rows else _line(lines[i], max_chars, markdown)
        i += 1
    return pieces


# --- html ---------------------------------------------------------------------------------------------

# Phrasing elements stay inside a sentence ("Click <a href=…>here</a> now." is one piece; protect masks
# the tags). Every other element, known or not (XML), starts a new piece.
_INLINE = frozenset("a abbr acronym b bdi bdo big cite code data del dfn em font i img ins kbd label mark "
                    "nobr q rp rt ruby s samp small span strike strong sub sup time tt u var wbr".split())
_RAW = frozenset({"script", "style", "pre"})  # content is never translated


class _Events(HTMLParser):
    """Records where each parser event starts; the source between two starts is that event's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[tuple[int, int], str, str]] = []

    def _add(self, kind: str, tag: str = "") -> None:
        self.events.append((self.getpos(), kind, tag))

    def handle_starttag(self, tag, attrs): self._add("start", tag)
    def handle_startendtag(self, tag, attrs): self._add("startend", tag)
    def handle_endtag(self, tag): self._add("end", tag)
    def handle_data(self, data): self._add("data")
    def handle_comment(self, data): self._add("comment")
    def handle_decl(self, decl): self._add("decl")
    def handle_pi(self, data): self._add("decl")
    def unknown_decl(self, data): self._add("decl")


def _split_html(text: str, max_chars: int) -> list[Piece]:
    parser = _Events()
    parser.feed(text)
    parser.close()
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    events = [(line_starts[line - 1] + col, kind, tag) for (line, col), kind, tag in parser.events]
    if not events or events[0][0] > 0:
        events.insert(0, (0, "data", ""))
    pieces: list[Piece] = []
    run_start: int | None = None  # start of the current run of inline content
    raw = 0
    for k, (start, kind, tag) in enumerate(events):
        end = events[k + 1][0] if k + 1 < len(events) else len(text)
        inline = kind in ("data", "comment") or (kind != "decl" and tag in _INLINE)
        if inline and not raw:
            run_start = start if run_start is None else run_start
            continue
        if run_start is not None:
            pieces += _content(text[run_start:start], max_chars)
            run_start = None
        pieces.append(Piece(text[start:end], False))
        if tag in _RAW and kind in ("start", "end"):
            raw = raw + 1 if kind == "start" else max(raw - 1, 0)
    if run_start is not None:
        pieces += _content(text[run_start:], max_chars)
    return pieces


def split(text: str, fmt: str = "plain", max_chars: int = 400) -> list[Piece]:
    """Pieces whose texts concatenate to `text`; translate only those with `translate=True`.

    Lines are units in plain text and markdown; a line longer than max_chars is cut into sentences
    packed up to max_chars. In html, inline runs between block tags are the units.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    raw = _split_html(text, max_chars) if fmt == "html" else _split_lines(text, max_chars, fmt == "markdown")
    merged: list[Piece] = []
    for piece in raw:  # drop empties, fuse neighbouring structure into one piece
        if not piece.text:
            continue
        if merged and not piece.translate and not merged[-1].translate:
            merged[-1] = Piece(merged[-1].text + piece.text, False)
        else:
            merged.append(piece)
    return merged
