"""Zip archives (.docx) unpacked with bounded decompression.

zipfile trusts the sizes an archive declares, and python-docx reads each part whole: a 1.1 MB upload
whose headers declared 1000 bytes inflated 1.17 GB into memory before its checksum failed. Here each
member's deflate stream is inflated in chunks and the bytes that actually come out are counted
against the caps as they come, so a bomb is refused after a few MiB of work; then sizes and CRCs
are checked against the headers like zipfile does. Only stored and deflated members are accepted
(what Word writes): bzip2 and lzma inflate without an output bound in zipfile's reader.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from app.files.core import FileTooLarge, UnsupportedFile

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader
_IN_CHUNK = 64 << 10  # compressed bytes handed to zlib at a time
_OUT_CHUNK = 1 << 20  # inflated bytes asked of zlib at a time: the most a step can overshoot a cap by
_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class Caps:
    total: int  # all members together, inflated
    xml: int  # one member that is XML (python-docx parses those whole, at several times their size)
    name: str = "archive"  # what the messages call the file


def unpack(data: bytes, caps: Caps) -> dict[str, bytes]:
    """Every member of the archive by name, inflated within the caps; raises UnsupportedFile for what
    is not a sound zip archive and FileTooLarge past a cap."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise UnsupportedFile(f"file is not a valid {caps.name} (not a zip archive)") from None
    members: dict[str, bytes] = {}
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        if info.filename in members:
            raise UnsupportedFile(f"file is not a valid {caps.name} (a part appears twice)")
        blob = _inflate(data, info, caps, caps.total - total)
        total += len(blob)
        members[info.filename] = blob
    return members


def pack(members: dict[str, bytes]) -> bytes:
    """The members as a stored (uncompressed) archive: what libraries that read zips whole may open."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


def _inflate(data: bytes, info: zipfile.ZipInfo, caps: Caps, room: int) -> bytes:
    corrupt = UnsupportedFile(f"file is not a valid {caps.name} (part {info.filename!r} is damaged)")
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedFile(
            f"file is not a valid {caps.name} (part {info.filename!r} is encrypted or "
            "compressed in a way Word does not use)"
        )
    header = data[info.header_offset : info.header_offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise corrupt
    fields = _LOCAL_HEADER.unpack(header)
    start = info.header_offset + _LOCAL_HEADER.size + fields[10] + fields[11]  # past the name and extra field
    packed = memoryview(data)[start : start + info.compress_size]
    if len(packed) < info.compress_size:
        raise corrupt
    inflater = zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type == zipfile.ZIP_DEFLATED else None
    out, size, cap = [], 0, room
    try:
        for chunk in _chunks(packed, inflater):
            if not out:
                cap = min(room, caps.xml) if _looks_like_xml(chunk) else room
            size += len(chunk)
            if size > cap:
                raise FileTooLarge(_too_large(info.filename, caps, cap == caps.xml < room))
            out.append(chunk)
    except zlib.error:
        raise corrupt from None
    blob = b"".join(out)
    if (inflater is not None and not inflater.eof) or len(blob) != info.file_size or zlib.crc32(blob) != info.CRC:
        raise corrupt
    return blob


def _chunks(packed: memoryview, inflater) -> Iterator[bytes]:
    """The member's bytes, inflated at most _OUT_CHUNK at a time (stored members: as they are)."""
    for offset in range(0, len(packed), _IN_CHUNK):
        pending = packed[offset : offset + _IN_CHUNK]
        if inflater is None:
            yield bytes(pending)
            continue
        while True:
            chunk = inflater.decompress(pending, _OUT_CHUNK)
            if chunk:
                yield chunk
            pending = inflater.unconsumed_tail
            if not pending and (len(chunk) < _OUT_CHUNK or inflater.eof):
                break  # a full buffer may leave output behind even when the input is used up


def _looks_like_xml(head: bytes) -> bool:
    """Markup first (after a byte order mark and spaces), or nothing but spaces yet: capped as XML."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(_WHITESPACE)
    return not text or text.startswith(b"<")


def _too_large(name: str, caps: Caps, xml: bool) -> str:
    if xml:
        return f"the {caps.name} part {name!r} unpacks to more than {caps.xml >> 20} MiB of XML"
    return f"the {caps.name} unpacks to more than {caps.total >> 20} MiB"
