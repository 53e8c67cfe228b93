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
import zipfile
from typing import Iterator

from docx import Document
from docx.document import Document as DocumentObject
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn
from docx.oxml.parser import OxmlElement
from lxml.etree import _Element

from app.files_core import FileDoc, FileTooLarge, Unit, UnitList, UnsupportedFile

MAX_UNPACKED_BYTES = 256 * 2**20  # a small upload can unzip to gigabytes; refuse before parsing

_P, _R, _T, _TAB, _BR, _CR, _NB_HYPHEN = (qn(t) for t in ("w:p", "w:r", "w:t", "w:tab", "w:br", "w:cr",
                                                           "w:noBreakHyphen"))
_TEXT_OF = {_T: None, _TAB: "\t", _BR: "\n", _CR: "\n", _NB_HYPHEN: "\u2011"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def read_docx(data: bytes, max_units: int) -> DocxDoc:
    units = UnitList(max_units)
    for _, _, text, _ in _paragraphs(_open(data)):
        units.add(text, "plain")
    return DocxDoc(units.units, data)


class DocxDoc(FileDoc):
    def __init__(self, units: list[Unit], data: bytes):
        super().__init__(units)
        self._data = data  # rebuild re-reads the original, so rebuilding twice gives the same result

    def _render(self, translations: list[str]) -> bytes:
        document = _open(self._data)
        for (elements, lead, _, trail), text in zip(list(_paragraphs(document)), translations):
            _write(elements, lead + _NOT_XML.sub("", text.replace("\r\n", "\n")) + trail)
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()


def _open(data: bytes) -> DocumentObject:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnsupportedFile("file is not a valid .docx document (not a zip archive)") from None
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise FileTooLarge(f"the .docx unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB")
    try:
        return Document(io.BytesIO(data))
    except Exception:  # python-docx raises KeyError, ValueError, lxml errors... for broken packages
        raise UnsupportedFile("file is not a valid .docx document") from None


def _paragraphs(document: DocumentObject) -> Iterator[tuple[list[_Element], str, str, str]]:
    """For each paragraph with text: its text elements, leading whitespace, text, trailing whitespace."""
    for story in _stories(document):
        for p in story.iter(_P):
            elements = list(_text_elements(p))
            full = "".join(_TEXT_OF[el.tag] or el.text or "" for el in elements)
            text = full.strip()
            if text:
                lead = full[:len(full) - len(full.lstrip())]
                yield elements, lead, text, full[len(lead) + len(text):]


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


def _write(elements: list[_Element], text: str) -> None:
    """Replace the paragraph's text elements by `text`, placed where its first text element was."""
    run, at = elements[0].getparent(), elements[0].getparent().index(elements[0])
    for el in elements:
        el.getparent().remove(el)
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
        at += 1
