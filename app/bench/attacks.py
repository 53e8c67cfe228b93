"""Adversarial inputs from the hardening review (issue 14): a catalogue of name -> request.

Each attack is one request to /v1/translate (a JSON body) or /v1/translate/file (an upload), built at a
chosen size in bytes, so the same inputs serve the offline plan benchmark (app.bench.plan_time), the HTTP
benchmark and `python -m app.tools.soak --adversarial`. They target superlinear work in segmentation,
masking and file parsing (long runs, unclosed constructs, deep nesting) and unbounded decompression.
Text attacks default to 1 MiB of text; the router takes JSON bodies up to limits.max_request_bytes
(1 MiB by default), so an HTTP client builds them a little smaller, e.g. `attack.request(1000_000)`.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

TRANSLATE = "/v1/translate"
TRANSLATE_FILE = "/v1/translate/file"
MIB = 1 << 20
_DOCX_MEDIA = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_MEDIA = {".txt": "text/plain", ".md": "text/markdown", ".html": "text/html", ".docx": _DOCX_MEDIA}
# Prose with what the sentence splitter and the masker look at: abbreviations, numbers, a URL, code.
_PROSE = "Dr. Smith paid $3.14 for coffee, e.g. at 9 a.m. today! Was it good? The quick brown fox jumps. "
_MD_PROSE = "The **quick** brown [fox](https://x.io/a_(b)) jumps over the `lazy` dog, e.g. twice. "
_HTML_PROSE = 'The <b>quick</b> brown <a href="https://x.io/a">fox</a> jumps over the lazy dog &amp; cat. '


@dataclass(frozen=True)
class TextRequest:
    """A JSON body for /v1/translate. The source language is given: detection must not end it early."""

    text: str
    format: str = "plain"
    source_lang: str = "en"
    target_lang: str = "zh"
    route: str = field(default=TRANSLATE, init=False)

    def json(self) -> dict:
        return {
            "text": self.text,
            "format": self.format,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
        }


@dataclass(frozen=True)
class FileUpload:
    """A multipart upload for /v1/translate/file: the file and the form fields."""

    filename: str
    data: bytes
    source_lang: str = "en"
    target_lang: str = "zh"
    route: str = field(default=TRANSLATE_FILE, init=False)

    @property
    def media_type(self) -> str:
        return _MEDIA[self.filename[self.filename.rfind(".") :]]

    def form(self) -> dict[str, str]:
        return {"source_lang": self.source_lang, "target_lang": self.target_lang}

    def files(self) -> dict[str, tuple[str, bytes, str]]:
        """httpx/requests `files=` argument."""
        return {"file": (self.filename, self.data, self.media_type)}


Request = TextRequest | FileUpload


@dataclass(frozen=True)
class Attack:
    name: str
    route: str
    summary: str
    size: int  # default size in bytes of the text (UTF-8) or of the inflated file content
    build: Callable[[int], Request]

    def request(self, size: int | None = None) -> Request:
        return self.build(self.size if size is None else size)


def _fill(unit: str, size: int) -> str:
    """`unit` repeated to about `size` UTF-8 bytes."""
    return unit * max(1, size // len(unit.encode()))


def _text(make: Callable[[int], str], fmt: str = "plain") -> Callable[[int], Request]:
    return lambda size: TextRequest(make(size), fmt)


def _upload(filename: str, make: Callable[[int], str]) -> Callable[[int], Request]:
    return lambda size: FileUpload(filename, make(size).encode())


def _base64(size: int) -> str:
    return base64.b64encode(random.Random(14).randbytes(size * 3 // 4)).decode()


def _ladder(size: int) -> str:
    """Backtick runs of growing length: none closes another, so a lazy scan restarts at each."""
    out, k = [], 1
    while sum(map(len, out)) < size:
        out.append("`" * k + "a")
        k += 1
    return "".join(out)


def _spaces_md(size: int) -> str:
    """A heading, a table candidate and a line that are mostly spaces, then no closing mark."""
    third = size // 3
    return "# a" + " " * third + "b\n" + "a | b\n" + " " * third + "| x\n" + " " * third + "x\n"


def _table_ticks(size: int) -> str:
    return "a | b\n--|--\n" + _fill("`a", size) + " | x\n"


# --- .docx -------------------------------------------------------------------------------------------

_BODY_OPEN = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
    b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
)
_BODY_CLOSE = b"</w:body></w:document>"


@lru_cache(maxsize=1)
def _template() -> dict[str, bytes]:
    """The members of python-docx's blank document."""
    import zipfile

    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _local_and_central(name: bytes, crc: int, packed: bytes, size: int, offset: int) -> tuple[bytes, bytes]:
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(packed), size, len(name), 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(packed),
        size,
        len(name),
        0,
        0,
        0,
        0,
        0,
        offset,
    )
    return local + name + packed, central + name


def _docx(document: list[bytes], declared: int | None = None) -> bytes:
    """A .docx whose word/document.xml is the concatenation of raw deflate chunks in `document`;
    `declared` is the size its headers claim (the truth when None)."""
    members = dict(_template())
    members.pop("word/document.xml")
    body, central = [], []
    for name, content in members.items():
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        local, entry = _local_and_central(
            name.encode(),
            zlib.crc32(content),
            packer.compress(content) + packer.flush(),
            len(content),
            sum(map(len, body)),
        )
        body.append(local)
        central.append(entry)
    packed = b"".join(document)
    crc, size = 0, declared  # a lying header needs no true checksum: the reader must stop long before it
    if declared is None:
        content = zlib.decompress(packed, -15)
        crc, size = zlib.crc32(content), len(content)
    local, entry = _local_and_central(b"word/document.xml", crc, packed, size, sum(map(len, body)))
    body.append(local)
    central.append(entry)
    start, directory = sum(map(len, body)), b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), start, 0)
    return b"".join([*body, directory, end])


def _repeated(block: bytes, size: int) -> list[bytes]:
    """Raw deflate chunks that inflate to BODY_OPEN + block * n + BODY_CLOSE, about `size` bytes.
    Each chunk ends with a full flush, so one compressed block can be repeated without compressing
    it again (a gigabyte bomb builds in milliseconds)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = packer.compress(_BODY_OPEN) + packer.flush(zlib.Z_FULL_FLUSH)
    chunk = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.compress(_BODY_CLOSE) + packer.flush()
    return [head, *[chunk] * max(1, size // len(block)), tail]


def _empty_paragraphs(size: int) -> bytes:
    return b"<w:p/>" * max(1, min(size, MIB) // 6)


def _docx_bomb(size: int) -> Request:
    """Headers claim 1000 bytes; word/document.xml inflates to `size` bytes of empty paragraphs."""
    return FileUpload("bomb.docx", _docx(_repeated(_empty_paragraphs(size), size), declared=1000))


def _docx_empty(size: int) -> Request:
    """Honest headers; `size` bytes of empty paragraphs: no unit at all, so no unit limit stops it."""
    return FileUpload("empty.docx", _docx(_repeated(_empty_paragraphs(size), size)))


def _docx_runs(size: int) -> Request:
    """One paragraph of `size` bytes of short runs: a single unit of a few hundred KiB of text."""
    run = b'<w:r><w:t xml:space="preserve">word </w:t></w:r>'
    block = b"<w:p>" + run * (size // len(run)) + b"</w:p>"
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return FileUpload("runs.docx", _docx([packer.compress(_BODY_OPEN + block + _BODY_CLOSE) + packer.flush()]))


_ATTACKS = [
    Attack("run-digits", TRANSLATE, '"1" repeated', MIB, _text(lambda n: "1" * n)),
    Attack("run-base64", TRANSLATE, "one base64 line", MIB, _text(_base64)),
    Attack("run-letters", TRANSLATE, "letters without spaces", MIB, _text(lambda n: _fill("abcdefghij", n))),
    Attack("run-a-at", TRANSLATE, '"a@" repeated', MIB, _text(lambda n: _fill("a@", n))),
    Attack("run-dots", TRANSLATE, '"." repeated', MIB, _text(lambda n: "." * n)),
    Attack("run-cjk", TRANSLATE, "CJK without punctuation", MIB, _text(lambda n: _fill("中文没有标点符号的长句", n))),
    Attack("run-backticks", TRANSLATE, '"`" repeated', MIB, _text(lambda n: "`" * n)),
    Attack("run-marks", TRANSLATE, "a letter and combining marks", MIB, _text(lambda n: "a" + _fill("\u0301", n))),
    Attack("run-percent-zeros", TRANSLATE, '"%" then zeros', MIB, _text(lambda n: "%" + "0" * n)),
    Attack(
        "url-parens",
        TRANSLATE,
        "a URL ending in closing parentheses",
        MIB,
        _text(lambda n: "see http://x.io/" + ")" * n),
    ),
    Attack("code-span-ladder", TRANSLATE, "backtick runs that never close", MIB, _text(_ladder)),
    Attack("open-comments", TRANSLATE, '"<!--" repeated, never closed', MIB, _text(lambda n: _fill("<!--", n))),
    Attack("open-braces", TRANSLATE, '"{{" repeated, never closed', MIB, _text(lambda n: _fill("{{", n))),
    Attack("md-spaces", TRANSLATE, "markdown lines of spaces", MIB, _text(_spaces_md, "markdown")),
    Attack("md-file-spaces", TRANSLATE_FILE, "markdown lines of spaces, as a file", MIB, _upload("a.md", _spaces_md)),
    Attack("md-file-table-ticks", TRANSLATE_FILE, "a table row of backtick runs", MIB, _upload("a.md", _table_ticks)),
    Attack("html-lt", TRANSLATE, '"<" repeated: one parser event per character', MIB, _text(lambda n: "<" * n, "html")),
    Attack("html-deep-nesting", TRANSLATE, "<div> nested", MIB, _text(lambda n: _fill("<div>", n), "html")),
    Attack("html-open-tags", TRANSLATE, '"<a " repeated, no ">"', MIB, _text(lambda n: _fill("<a ", n), "html")),
    Attack("html-open-comments", TRANSLATE, '"<!-- >" repeated', MIB, _text(lambda n: _fill("<!-- >", n), "html")),
    Attack(
        "plain-paragraph", TRANSLATE_FILE, "one-paragraph .txt", 5 * MIB, _upload("a.txt", lambda n: _fill(_PROSE, n))
    ),
    Attack(
        "markdown-paragraph",
        TRANSLATE_FILE,
        "one-paragraph .md",
        5 * MIB,
        _upload("a.md", lambda n: _fill(_MD_PROSE, n)),
    ),
    Attack(
        "html-paragraph",
        TRANSLATE_FILE,
        "one-paragraph .html",
        5 * MIB,
        _upload("a.html", lambda n: "<p>" + _fill(_HTML_PROSE, n) + "</p>"),
    ),
    Attack(
        "html-file-nesting",
        TRANSLATE_FILE,
        "<div><span> nested, then text",
        MIB,
        _upload("a.html", lambda n: _fill("<div><span>", n) + "Hello."),
    ),
    Attack(
        "html-file-unclosed",
        TRANSLATE_FILE,
        "unclosed <p> paragraphs",
        MIB,
        _upload("a.html", lambda n: _fill("<p>Hi", n)),
    ),
    Attack(
        "html-file-attributes",
        TRANSLATE_FILE,
        "one tag with 1 MiB of attributes",
        MIB,
        _upload("a.html", lambda n: '<p><img alt="A cat" ' + _fill('a="b" ', n) + ">Hi</p>"),
    ),
    Attack(
        "html-file-open-tags",
        TRANSLATE_FILE,
        '"<a " repeated, no ">"',
        MIB,
        _upload("a.html", lambda n: _fill("<a ", n)),
    ),
    Attack("docx-bomb", TRANSLATE_FILE, "1000 bytes declared, 1 GiB inflated", 1 << 30, _docx_bomb),
    Attack("docx-empty", TRANSLATE_FILE, "honest 10 MiB document.xml of empty paragraphs", 10 * MIB, _docx_empty),
    Attack("docx-runs", TRANSLATE_FILE, "one paragraph of 1 MiB of runs", MIB, _docx_runs),
]
CATALOGUE: dict[str, Attack] = {attack.name: attack for attack in _ATTACKS}
