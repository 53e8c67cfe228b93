"""File translation that keeps the file's structure.

The service calls `extract(filename, data)` to get a document whose `units` are the texts to translate
(paragraphs, list items, table cells, subtitle cues...), translates each unit (segmenting it as its
`fmt` says), then calls `doc.rebuild(translations)` with one translation per unit, in order, to get
the translated file. Everything that is not a unit (markup, code, timings, layout) is copied as it
was; for .txt, .md, .srt and .html an identity translation gives back the input byte for byte.
/v1/translate reads its `format: markdown|html` texts with the same readers (`read_text`).

Each format lives in its own module, imported on first use so that python-docx (and lxml) load only
when a .docx arrives.
"""

from __future__ import annotations

import importlib
import os

from app.files.core import FileDoc, FileTooLarge, Fmt, SpliceDoc, TextStream, Unit, UnsupportedFile

__all__ = [
    "SUPPORTED",
    "TEXT_FORMATS",
    "FileDoc",
    "FileTooLarge",
    "Fmt",
    "SpliceDoc",
    "TextStream",
    "Unit",
    "UnsupportedFile",
    "extract",
    "read_text",
]

SUPPORTED = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".srt": "application/x-subrip",
    ".html": "text/html",
    ".htm": "text/html",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

_READERS = {
    ".txt": ("app.files.text", "read_txt"),
    ".md": ("app.files.markdown", "read_md"),
    ".srt": ("app.files.text", "read_srt"),
    ".html": ("app.files.html", "read_html"),
    ".htm": ("app.files.html", "read_html"),
    ".docx": ("app.files.docx", "read_docx"),
}
# /v1/translate's structured formats: the same readers, given text instead of bytes.
TEXT_FORMATS = {
    "markdown": ("app.files.markdown", "read_markdown_text"),
    "html": ("app.files.html", "read_html_text"),
}


def extract(filename: str, data: bytes, max_units: int = 5000) -> FileDoc:
    """Parse an uploaded file by its extension; raises UnsupportedFile or FileTooLarge (both 400s)."""
    ext = os.path.splitext(filename.replace("\\", "/"))[1].lower()
    if ext not in _READERS:
        what = f"type {ext!r}" if ext else "without an extension"
        raise UnsupportedFile(f"unsupported file {what}; supported types: {', '.join(SUPPORTED)}", param="file")
    module, reader = _READERS[ext]
    return getattr(importlib.import_module(module), reader)(data, max_units)


def read_text(text: str, fmt: str, max_units: int = 5000) -> SpliceDoc:
    """Parse a text of format "markdown" or "html" as its file reader parses a file; rebuild it with
    `doc.render_text(translations)`, or front to back with TextStream. Raises FileTooLarge past max_units."""
    module, reader = TEXT_FORMATS[fmt]
    return getattr(importlib.import_module(module), reader)(text, max_units)
