"""The batch job (app.batch) on the session's real Ray cluster with the tiny model on vLLM CPU:
every input format round-trips with order and ids, bad rows land in the errors file, service mode
goes through the deployed app, and a `ray job submit` of the module that is stopped mid-run and
submitted again ends with every row exactly once.

The tiny model's words are random; what is asserted is structure, order, ids, counts and errors.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT

pytestmark = pytest.mark.integration

ZH = ["今天天气很好。", "我们去公园散步吧！", "火车站在哪里？", "谢谢你的帮助。", "请把报告发给我。", "早上好。"]


def _batch(cluster, *args: str, timeout: float = 300) -> dict:
    """Run `python -m app.batch` as a driver of the test cluster; returns the summary it wrote."""
    cmd = [sys.executable, "-m", "app.batch", "--address", f"127.0.0.1:{cluster.gcs_port}", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=cluster.env, timeout=timeout, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    out = Path(args[args.index("--output") + 1])
    return json.loads((out / "_batch" / "summary.json").read_text())


def _parts(out: Path, pattern: str) -> list[Path]:
    """Output shards in order (the errors files also end in .jsonl)."""
    return [p for p in sorted(out.glob(pattern)) if not p.name.endswith(".errors.jsonl")]


def _errors(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for p in sorted(out.glob("*.errors.jsonl")) for line in p.read_text().splitlines()]
    return {f"{r['file']}:{r['id']}": r["reason"] for r in rows}


def test_offline_every_format_round_trips_and_bad_rows_are_reported(cluster, tiny_model, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_bytes(
        "\n".join(ZH).encode()
        + b"\n\xff\xfe not utf-8\n"
        + "长".join(ZH * 30).encode()
        + b"\n"
        + ZH[0].encode()
        + b"\n"
    )
    (src / "b.jsonl").write_text(
        "".join(json.dumps({"key": f"j{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(ZH))
        + "{not json\n"
    )
    with open(src / "c.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "text", "extra"])
        writer.writerows([[f"c{i}", t, i * i] for i, t in enumerate(ZH)])
    pq.write_table(pa.table({"key": list(range(100, 106)), "text": ZH}), src / "d.parquet")
    out = tmp_path / "out"

    summary = _batch(
        cluster,
        "--input",
        str(src),
        "--output",
        str(out),
        "--source",
        "zh",
        "--target",
        "en",
        "--model-source",
        str(tiny_model),
        "--device",
        "cpu",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "256",
        "--env",
        '{"VLLM_CPU_KVCACHE_SPACE": "1"}',
        "--block-rows",
        "4",
        "--id-field",
        "key",
        "--temperature",
        "1.0",
    )

    txt = [line for p in sorted(out.glob("a.part-*.txt")) for line in p.read_text().splitlines()]
    assert len(txt) == 9  # one line per input line, bad ones empty, so outputs stay aligned
    assert all(txt[i] for i in (0, 1, 2, 3, 4, 5, 8)) and txt[6] == "" and txt[7] == ""
    jsonl = [json.loads(line) for p in _parts(out, "b.part-*.jsonl") for line in p.read_text().splitlines()]
    assert [r["key"] for r in jsonl] == [f"j{i}" for i in range(6)] and all(r["translation"] for r in jsonl)
    assert [r["text"] for r in jsonl] == ZH
    rows = []
    for part in sorted(out.glob("c.part-*.csv")):
        with open(part, newline="") as f:  # csv's own newline handling: a field may hold one
            rows += csv.DictReader(f)
    assert [(r["key"], r["text"], r["extra"]) for r in rows] == [(f"c{i}", t, str(i * i)) for i, t in enumerate(ZH)]
    assert all(r["translation"] for r in rows)
    table = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("d.part-*.parquet"))])
    assert table.column("key").to_pylist() == list(range(100, 106)) and all(table.column("translation").to_pylist())
    assert len(list(out.glob("a.part-*.txt"))) == 3 and len(list(out.glob("d.part-*.parquet"))) == 2

    errors = _errors(out)
    assert errors["a.txt:7"].startswith("invalid_encoding")
    assert errors["a.txt:8"].startswith("context_length_exceeded")
    assert errors["b.jsonl:7"] == "invalid_json"
    assert summary["errors"] == len(errors) == 3
    assert summary["rows"] == 9 + 7 + 6 + 6 and summary["output_tokens"] > 0 and summary["shards_skipped"] == 0


def test_service_mode_goes_through_the_running_app(cluster, tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("\n".join(ZH) + "\n")
    out = tmp_path / "out"
    summary = _batch(
        cluster,
        "--input",
        str(src),
        "--output",
        str(out),
        "--target",
        "en",
        "--mode",
        "service",
        "--model",
        "tiny",
        "--block-rows",
        "3",
        "--temperature",
        "1.0",
    )
    lines = [line for p in sorted(out.glob("s.part-*.txt")) for line in p.read_text().splitlines()]
    assert len(lines) == len(ZH) and all(lines)
    assert summary["rows"] == len(ZH) and summary["errors"] == 0 and summary["output_tokens"] > 0


def _job(cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "ray"), "job", *args]
    env = {**cluster.env, "RAY_ADDRESS": f"http://127.0.0.1:{cluster.dashboard_port}"}
    return subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout, capture_output=True, text=True)


def test_job_submit_stopped_mid_run_then_resubmitted_gives_every_row_once(cluster, tmp_path):
    rows = 48
    src = tmp_path / "big.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": f"r{i:03d}", "text": ZH[i % len(ZH)] + str(i)}, ensure_ascii=False) + "\n"
            for i in range(rows)
        )
    )
    out = tmp_path / "out"
    # Through the session's app (service mode): the resume logic is the same in both modes, and two
    # more engine starts in offline mode would double this file's time (offline is the first test).
    entry = [
        "python",
        "-m",
        "app.batch",
        "--input",
        str(src),
        "--output",
        str(out),
        "--source",
        "zh",
        "--target",
        "en",
        "--mode",
        "service",
        "--model",
        "tiny",
        "--id-field",
        "id",
        "--block-rows",
        "2",
        "--shards-in-flight",
        "1",
        "--memory-entries",
        "0",
    ]
    job_id = f"batch-{time.time_ns()}"  # ours, not parsed from the CLI's colored output
    started = _job(cluster, "submit", "--no-wait", "--submission-id", job_id, "--working-dir", ".", "--", *entry)
    assert started.returncode == 0, started.stderr[-3000:]
    done_dir = out / "_batch" / "done"
    deadline = time.monotonic() + 240
    while not (done_dir.is_dir() and any(done_dir.iterdir())):
        assert time.monotonic() < deadline, _job(cluster, "logs", job_id).stdout[-3000:]
        time.sleep(0.2)
    assert _job(cluster, "stop", job_id).returncode == 0
    finished_before = len(list(done_dir.iterdir()))
    assert 1 <= finished_before < rows // 2, "the job was not stopped in the middle"

    rerun = _job(cluster, "submit", "--working-dir", ".", "--", *entry, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-2000:]
    assert "SUCCEEDED" in rerun.stdout or "succeeded" in rerun.stdout
    summary = json.loads((out / "_batch" / "summary.json").read_text())
    assert summary["shards"] == rows // 2 and summary["shards_skipped"] >= finished_before
    ids = [json.loads(line)["id"] for p in _parts(out, "big.part-*.jsonl") for line in p.read_text().splitlines()]
    assert ids == [f"r{i:03d}" for i in range(rows)]  # every row, once, in order
    assert not list(out.rglob("*.tmp"))
