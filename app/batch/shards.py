"""Batch job files: planning input files into shards, reading one shard's rows, writing its output.

A shard is a fixed range of rows of one input file (`block_rows` rows each). Its id is derived from
the file's path relative to the input root and the block index, so the same command always plans the
same shards: that is what makes a rerun skip the finished ones. Each shard is committed in three
atomic steps (temp file + `os.replace`): the output shard, its errors file, then a marker under
`<output>/_batch/done/`. Only the marker makes a shard finished; a shard without one is rewritten
whole on the next run, replacing whatever a crashed run left, so no row is ever written twice.

Formats: `.txt` (one segment a line, ids are line numbers), `.jsonl` (the text in a named field),
`.csv` and `.parquet` (a named column). The output has the input's format with a translation field
added (for txt: one translation a line, aligned with the input). A row that cannot be read (invalid
UTF-8, broken JSON, no text field) becomes an error row instead of failing the job.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
STATE_DIR = "_batch"  # job state inside the output folder: plan, markers, summary


class Shard(BaseModel):
    """One block of rows of one input file; `start` and `end` are row numbers (0-based, end excluded).
    For txt and jsonl, `offset` is the byte offset of row `start`, so reading a shard never scans
    the rows before it."""

    id: str
    path: str
    relative: str
    format: Literal["txt", "jsonl", "csv", "parquet"]
    index: int
    start: int
    end: int
    offset: int = 0

    def output_path(self, out_dir: Path) -> Path:
        rel = Path(self.relative)
        return out_dir / rel.parent / f"{rel.stem}.part-{self.index:05d}{rel.suffix}"

    def errors_path(self, out_dir: Path) -> Path:
        rel = Path(self.relative)
        return out_dir / rel.parent / f"{rel.stem}.part-{self.index:05d}.errors.jsonl"

    def marker_path(self, out_dir: Path) -> Path:
        return out_dir / STATE_DIR / "done" / f"{self.id}.json"


class Row(BaseModel):
    """A row as read: `record` is what the output is built from, `text` what gets translated;
    `error` is set (and `text` is None) when the row cannot be translated at all."""

    id: str
    number: int  # row number in its file, 0-based
    text: str | None = None
    record: Any = None
    error: str | None = None


def list_inputs(root: Path) -> list[tuple[Path, str]]:
    """The input files under `root` (or `root` itself), sorted, with their path relative to it."""
    if root.is_file():
        files = [root]
        base = root.parent
    elif root.is_dir():
        files = sorted(
            p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS and STATE_DIR not in p.parts
        )
        base = root
    else:
        raise FileNotFoundError(f"no such input: {root}")
    if not files or any(p.suffix.lower() not in FORMATS for p in files):
        raise ValueError(f"{root}: no input files of the supported kinds ({', '.join(FORMATS)})")
    return [(p, str(p.relative_to(base))) for p in files]


def _line_offsets(path: Path, block_rows: int) -> tuple[list[int], int]:
    """Byte offsets of every `block_rows`-th line, and the line count, in one pass over bytes."""
    offsets, count, pos = [], 0, 0
    with open(path, "rb") as f:
        for line in f:
            if count % block_rows == 0:
                offsets.append(pos)
            pos += len(line)
            count += 1
    return offsets, count


def _row_count(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)  # minus the header


def shard_id(relative: str, index: int) -> str:
    digest = hashlib.sha1(relative.encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in relative)[-80:]
    return f"{safe}-{digest}-{index:05d}"


def plan_shards(root: Path, block_rows: int) -> list[Shard]:
    shards = []
    for path, rel in list_inputs(root):
        fmt = FORMATS[path.suffix.lower()]
        if fmt in ("txt", "jsonl"):
            offsets, count = _line_offsets(path, block_rows)
        else:
            count = _row_count(path, fmt)
            offsets = [0] * -(-count // block_rows)
        for index, offset in enumerate(offsets):
            start = index * block_rows
            shards.append(
                Shard(
                    id=shard_id(rel, index),
                    path=str(path),
                    relative=rel,
                    format=fmt,
                    index=index,
                    start=start,
                    end=min(start + block_rows, count),
                    offset=offset,
                )
            )
    return shards


# -- reading ---------------------------------------------------------------------------------------


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None


def _record_row(number: int, record: Any, text_field: str, id_field: str | None) -> Row:
    rid = str(record.get(id_field)) if id_field and record.get(id_field) is not None else str(number + 1)
    text = record.get(text_field)
    if not isinstance(text, str):
        return Row(id=rid, number=number, record=record, error=f"no text in field {text_field!r}")
    return Row(id=rid, number=number, text=text, record=record)


def read_shard(shard: Shard, text_field: str = "text", id_field: str | None = None) -> list[Row]:
    path, count = Path(shard.path), shard.end - shard.start
    rows: list[Row] = []
    if shard.format in ("txt", "jsonl"):
        with open(path, "rb") as f:
            f.seek(shard.offset)
            lines = [f.readline() for _ in range(count)]
        for i, raw in enumerate(lines):
            number = shard.start + i
            line = _decode(raw)
            if shard.format == "txt":
                rows.append(
                    Row(
                        id=str(number + 1),
                        number=number,
                        text=line,
                        record=line,
                        error=None if line is not None else "invalid_encoding: the line is not UTF-8",
                    )
                )
                continue
            try:
                record = json.loads(line) if line is not None else None
            except ValueError:
                record = None
            if not isinstance(record, dict):
                reason = "invalid_encoding: the line is not UTF-8" if line is None else "invalid_json"
                rows.append(Row(id=str(number + 1), number=number, error=reason))
            else:
                rows.append(_record_row(number, record, text_field, id_field))
    elif shard.format == "csv":
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            for number, record in enumerate(reader):
                if number >= shard.end:
                    break
                if number >= shard.start:
                    row = _record_row(number, record, text_field, id_field)
                    if row.text is not None and "\ufffd" in row.text:
                        row = row.model_copy(update={"text": None, "error": "invalid_encoding: not UTF-8"})
                    rows.append(row)
    else:
        for number, record in enumerate(_parquet_slice(path, shard.start, count).to_pylist(), shard.start):
            rows.append(_record_row(number, record, text_field, id_field))
    return rows


def _parquet_slice(path: Path, start: int, count: int):
    import pyarrow.parquet as pq

    return pq.read_table(path, memory_map=True).slice(start, count)


# -- writing ---------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a part: temp file in the same folder, fsync,
    rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(out_dir: Path) -> int:
    """Delete the temp files of writes a killed run never finished (`write_atomic` names them
    `.<name>.<random>.tmp`); their shards have no marker and are written again whole."""
    stale = list(out_dir.rglob(".*.tmp")) if out_dir.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def render_output(shard: Shard, rows: list[Row], translations: list[str | None], output_field: str) -> bytes:
    """The output shard in the input's format. Error rows keep their place (an empty line in txt, a
    null translation elsewhere) so outputs stay aligned with inputs; unreadable jsonl lines, which
    have no record to carry, are left out (the errors file holds them)."""
    if shard.format == "txt":
        # Any line break (\r, U+2028, ...) in a translation would shift every later line.
        return "".join(" ".join((t or "").splitlines()) + "\n" for t in translations).encode()
    if shard.format == "jsonl":
        lines = [
            json.dumps({**row.record, output_field: t}, ensure_ascii=False)
            for row, t in zip(rows, translations)
            if isinstance(row.record, dict)
        ]
        return "".join(line + "\n" for line in lines).encode()
    if shard.format == "csv":
        with open(shard.path, newline="", encoding="utf-8", errors="replace") as f:
            fields = list(csv.DictReader(f).fieldnames or [])
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*fields, output_field] if output_field not in fields else fields)
        writer.writeheader()
        for row, t in zip(rows, translations):
            writer.writerow({**row.record, output_field: t})
        return buf.getvalue().encode()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = _parquet_slice(Path(shard.path), shard.start, shard.end - shard.start)
    column = pa.array(translations, type=pa.string())
    if output_field in table.column_names:
        table = table.set_column(table.column_names.index(output_field), output_field, column)
    else:
        table = table.append_column(output_field, column)
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    return buf.getvalue().to_pybytes()


def commit_shard(shard: Shard, out_dir: Path, output: bytes, errors: list[dict], stats: dict) -> None:
    """Output, then errors, then the marker that makes the shard finished."""
    write_atomic(shard.output_path(out_dir), output)
    write_atomic(shard.errors_path(out_dir), "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors).encode())
    write_atomic(shard.marker_path(out_dir), json.dumps({"shard": shard.id, **stats}).encode())


def is_done(shard: Shard, out_dir: Path) -> bool:
    return shard.marker_path(out_dir).is_file()


def read_marker(shard: Shard, out_dir: Path) -> dict:
    return json.loads(shard.marker_path(out_dir).read_text())


def read_translations(shard: Shard, out_dir: Path, output_field: str) -> list[str | None]:
    """The translations of a finished shard, in row order (for scoring against references)."""
    path = shard.output_path(out_dir)
    if shard.format == "txt":
        return path.read_text(encoding="utf-8").splitlines()
    if shard.format == "jsonl":
        return [json.loads(line).get(output_field) for line in path.read_text(encoding="utf-8").splitlines()]
    if shard.format == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            return [r.get(output_field) for r in csv.DictReader(f)]
    import pyarrow.parquet as pq

    return pq.read_table(path).column(output_field).to_pylist()
