"""Word documents (.docx): one plain unit per paragraph of the body (tables and text boxes included),
the headers and the footers.

Simplification: a translated paragraph is written into the run that held its first character, with
that run's formatting; the other runs lose their text but keep everything else (images, fields, page
breaks, bookmarks), and the paragraph keeps its style. Word order changes across languages, so
formatting that covered part of a sentence (one bold word) cannot be placed reliably and is dropped.
Not translated: footnotes, endnotes, comments, charts and document properties.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from docx import Document
from docx.document import Document as DocumentObject
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn
from docx.oxml.parser import OxmlElement
from lxml.etree import XPath, _Element

from app.files.core import FileDoc, Unit, UnitList, UnsupportedFile
from app.files.zip_reader import Caps, pack, unpack

# Caps on inflated bytes, counted as they come out (app/files/zip_reader.py). 5,000 paragraphs (the default unit
# limit) take 1-5 MiB of WordprocessingML even when richly formatted, so 8 MiB of XML per part is ample,
# and bounds what lxml builds: about 150 MB for 8 MiB of empty paragraphs, the densest tree there is.
# The total leaves room for the images of a 10 MiB upload (already compressed, they barely inflate).
MAX_XML_BYTES = 8 << 20
MAX_UNPACKED_BYTES = 32 << 20

_P, _R, _T, _TAB, _BR, _CR, _NB_HYPHEN = (
    qn(t) for t in ("w:p", "w:r", "w:t", "w:tab", "w:br", "w:cr", "w:noBreakHyphen")
)
_TEXT_OF = {_T: None, _TAB: "\t", _BR: "\n", _CR: "\n", _NB_HYPHEN: "\u2011"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Paragraphs that hold a text element somewhere, found by libxml2: a body of a million empty paragraphs
# costs no Python work per paragraph.
_WITH_TEXT = XPath(
    ".//w:p[.//*[self::w:t or self::w:tab or self::w:br or self::w:cr or self::w:noBreakHyphen]]",
    namespaces={"w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main"},
)


@dataclass(frozen=True)
class _Paragraph:
    elements: list[_Element]  # its text elements, in order
    lead: str  # whitespace around the text, kept out of the unit
    text: str
    trail: str


def read_docx(data: bytes, max_units: int) -> DocxDoc:
    """Parsed once: the document and its paragraphs are kept for rebuild."""
    document = _open(data)
    units = UnitList(max_units)
    paragraphs = []
    for paragraph in _paragraphs(document):
        units.add(paragraph.text, "plain")
        paragraphs.append(paragraph)
    return DocxDoc(units.units, document, paragraphs)


class DocxDoc(FileDoc):
    def __init__(self, units: list[Unit], document: DocumentObject, paragraphs: list[_Paragraph]):
        super().__init__(units)
        self._document = document
        self._paragraphs = paragraphs

    def _render(self, translations: list[str]) -> bytes:
        """Writes the translations into the parsed document, saves it, and puts the source text back, so
        rebuilding twice gives the same result."""
        undo: list[Callable[[], None]] = []
        try:
            for paragraph, text in zip(self._paragraphs, translations):
                undo.append(
                    _write(
                        paragraph.elements,
                        paragraph.lead + _NOT_XML.sub("", text.replace("\r\n", "\n")) + paragraph.trail,
                    )
                )
            out = io.BytesIO()
            self._document.save(out)
            return out.getvalue()
        finally:
            for restore in reversed(undo):
                restore()


def _open(data: bytes) -> DocumentObject:
    members = unpack(data, Caps(total=MAX_UNPACKED_BYTES, xml=MAX_XML_BYTES, name=".docx document"))
    try:
        return Document(io.BytesIO(pack(members)))
    except Exception:  # python-docx raises KeyError, ValueError, lxml errors... for broken packages
        raise UnsupportedFile("file is not a valid .docx document") from None


def _paragraphs(document: DocumentObject) -> Iterator[_Paragraph]:
    """Each paragraph with text, in document order: its text elements and its text, whitespace apart."""
    for story in _stories(document):
        for p in _WITH_TEXT(story):
            elements = list(_text_elements(p))
            full = "".join(_TEXT_OF[el.tag] or el.text or "" for el in elements)
            text = full.strip()
            if text:
                lead = full[: len(full) - len(full.lstrip())]
                yield _Paragraph(elements, lead, text, full[len(lead) + len(text) :])


def _stories(document: DocumentObject) -> Iterator[_Element]:
    """The body, then each header and footer part once (sections often share them)."""
    yield document.element.body
    rels = [r for r in document.part.rels.values() if r.reltype in (RT.HEADER, RT.FOOTER)]
    for rel in sorted(rels, key=lambda r: (r.reltype == RT.FOOTER, str(r.target_part.partname))):
        yield rel.target_part.element


def _text_elements(p: _Element) -> Iterator[_Element]:
    """The text-bearing children of the paragraph's own runs, not of paragraphs nested in text boxes."""
    for run in p.iter(_R):
        owner = run.getparent()
        while owner is not None and owner.tag != _P:
            owner = owner.getparent()
        if owner is not p:
            continue
        for el in run:
            if el.tag in _TEXT_OF and not (el.tag == _BR and el.get(qn("w:type")) in ("page", "column")):
                yield el


def _write(elements: list[_Element], text: str) -> Callable[[], None]:
    """Replace the paragraph's text elements by `text`, placed where its first text element was; returns
    what puts the original elements back."""
    run, at = elements[0].getparent(), elements[0].getparent().index(elements[0])
    removed = []
    for el in elements:
        parent = el.getparent()
        removed.append((parent, parent.index(el), el))
        parent.remove(el)
    added = []
    for piece in re.split(r"([\t\n])", text):
        if not piece:
            continue
        if piece in "\t\n":
            el = OxmlElement("w:tab" if piece == "\t" else "w:br")
        else:
            el = OxmlElement("w:t")
            el.text = piece
            el.set(qn("xml:space"), "preserve")  # Word drops leading/trailing spaces otherwise
        run.insert(at, el)
        added.append(el)
        at += 1

    def restore() -> None:
        for el in added:
            run.remove(el)
        for parent, index, el in reversed(removed):
            parent.insert(index, el)

    return restore
