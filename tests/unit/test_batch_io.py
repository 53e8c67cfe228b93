"""Batch job files without Ray: shard planning, reading (bad rows included), atomic commit, output
in every format with order and ids kept, and the summary's arithmetic."""

from __future__ import annotations

import csv
import json

import pytest

from app.batch.shards import (
    commit_shard,
    is_done,
    plan_shards,
    read_shard,
    read_translations,
    render_output,
    write_atomic,
)
from app.batch.summary import Summary


def _inputs(root):
    root.mkdir()
    (root / "a.txt").write_bytes(b"one\ntwo\n\xff\xfe bad\nfour\nfive\n")
    (root / "b.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"key": "k1", "text": "hello"}),
                "{broken",
                json.dumps({"key": "k3", "body": "no text"}),
                json.dumps({"key": "k4", "text": "bye"}),
            ]
        )
        + "\n"
    )
    with open(root / "c.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "text"])
        w.writerows([["c1", "line, with comma"], ["c2", "multi\nline"], ["c3", "last"]])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"key": [10, 11, 12], "text": ["p0", "p1", "p2"]}), root / "d.parquet")
    return root


def test_plan_is_deterministic_and_covers_every_row(tmp_path):
    root = _inputs(tmp_path / "in")
    shards = plan_shards(root, block_rows=2)
    assert [s.id for s in shards] == [s.id for s in plan_shards(root, block_rows=2)]
    assert len({s.id for s in shards}) == len(shards)
    per_file = {}
    for s in shards:
        per_file.setdefault(s.relative, []).append((s.start, s.end))
    assert per_file["a.txt"] == [(0, 2), (2, 4), (4, 5)]
    assert per_file["c.csv"] == [(0, 2), (2, 3)]  # the quoted line break is one row
    assert per_file["d.parquet"] == [(0, 2), (2, 3)]


def test_rows_ids_and_bad_rows(tmp_path):
    root = _inputs(tmp_path / "in")
    shards = {(s.relative, s.index): s for s in plan_shards(root, block_rows=2)}
    rows = read_shard(shards[("a.txt", 1)])  # byte offset seek: lines 3-4
    assert [(r.id, r.text) for r in rows] == [("3", None), ("4", "four")]
    assert rows[0].error.startswith("invalid_encoding")
    rows = read_shard(shards[("b.jsonl", 0)], id_field="key") + read_shard(shards[("b.jsonl", 1)], id_field="key")
    assert [r.id for r in rows] == ["k1", "2", "k3", "k4"]
    assert [r.error for r in rows] == [None, "invalid_json", "no text in field 'text'", None]
    rows = read_shard(shards[("c.csv", 0)], id_field="key")
    assert [(r.id, r.text) for r in rows] == [("c1", "line, with comma"), ("c2", "multi\nline")]
    rows = read_shard(shards[("d.parquet", 1)], id_field="key")
    assert [(r.id, r.text, r.number) for r in rows] == [("12", "p2", 2)]


@pytest.mark.parametrize("name", ["a.txt", "b.jsonl", "c.csv", "d.parquet"])
def test_output_keeps_order_ids_and_format(tmp_path, name):
    root = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    for shard in [s for s in plan_shards(root, block_rows=2) if s.relative == name]:
        rows = read_shard(shard, id_field="key")
        translations = [None if r.error else f"T[{r.text}]" for r in rows]
        errors = [{"id": r.id, "reason": r.error} for r in rows if r.error]
        commit_shard(shard, out, render_output(shard, rows, translations, "translation"), errors, {"rows": len(rows)})
        assert is_done(shard, out)
        got = read_translations(shard, out, "translation")
        expected = [t for r, t in zip(rows, translations) if name != "b.jsonl" or isinstance(r.record, dict)]
        assert [g or None for g in got] == [" ".join(t.splitlines()) if t and name == "a.txt" else t for t in expected]
        assert len(shard.errors_path(out).read_text().splitlines()) == len(errors)
    if name == "b.jsonl":
        lines = [json.loads(x) for x in (out / "b.part-00000.jsonl").read_text().splitlines()]
        assert lines == [{"key": "k1", "text": "hello", "translation": "T[hello]"}]  # the broken line is left out
    if name == "d.parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(out / "d.part-00000.parquet")
        assert table.column_names == ["key", "text", "translation"] and table.column("key").to_pylist() == [10, 11]


def test_write_atomic_leaves_no_temp_files(tmp_path):
    path = tmp_path / "x" / "f.txt"
    write_atomic(path, b"1")
    write_atomic(path, b"2")
    assert path.read_bytes() == b"2" and [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_summary_counts_skipped_shards_but_not_their_throughput():
    s = Summary()
    s.add({"rows": 10, "output_tokens": 100, "input_tokens": 50, "errors": 1}, this_run=True)
    s.add({"rows": 5, "output_tokens": 40, "errors": 0}, this_run=False)
    s.finish(2.0)
    assert (s.rows, s.output_tokens, s.errors, s.shards_skipped) == (15, 140, 1, 1)
    assert s.output_tokens_per_s == 50.0 and s.total_tokens_per_s == 75.0


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    from app.batch.shards import remove_stale_temps

    out = tmp_path / "out"
    write_atomic(out / "a.part-00000.txt", b"done\n")
    (out / "sub").mkdir()
    (out / ".a.part-00001.txt.k3j2.tmp").write_bytes(b"half")  # as write_atomic names them
    (out / "sub" / ".b.part-00000.jsonl.x9.tmp").write_bytes(b"half")
    assert remove_stale_temps(out) == 2
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.part-00000.txt"]
    assert remove_stale_temps(tmp_path / "missing") == 0
