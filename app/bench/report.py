"""Reports of an `app.bench` run: the JSON record, a markdown table and PNG plots (throughput and
TTFT p50 against concurrency, one line per system)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from app.bench.metrics import LevelSummary

COLUMNS = (
    "system",
    "api",
    "concurrency",
    "rate",
    "requests",
    "errors",
    "req/s",
    "output tok/s",
    "TTFT p50 (ms)",
    "TTFT p90 (ms)",
    "TTFT p99 (ms)",
    "TPOT p50 (ms)",
    "ITL p50 (ms)",
    "e2e p50 (ms)",
    "e2e p90 (ms)",
)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(errors.items())) if errors else "0"


def table(levels: list[LevelSummary]) -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for s in levels:
        cells = (
            s.system,
            s.api,
            str(s.concurrency),
            _num(s.rate, 2),
            str(s.requests),
            _errors(s.errors),
            _num(s.requests_per_s, 2),
            _num(s.output_tokens_per_s),
            _num(s.ttft_ms.p50),
            _num(s.ttft_ms.p90),
            _num(s.ttft_ms.p99),
            _num(s.tpot_ms.p50, 2),
            _num(s.itl_ms.p50, 2),
            _num(s.e2e_ms.p50),
            _num(s.e2e_ms.p90),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def to_json(levels: list[LevelSummary], config: dict[str, Any]) -> str:
    """The run's settings and every level; NaN (a metric with no samples) is written as null."""
    results = [json.loads(s.model_dump_json()) for s in levels]  # pydantic writes NaN as null
    return json.dumps({"config": config, "results": results}, indent=2, ensure_ascii=False)


def plots(levels: list[LevelSummary], out_dir: Path) -> list[Path]:
    """throughput.png (output tok/s, or req/s for the translate API, which may report no tokens) and
    ttft.png (TTFT p50), each against concurrency with one line per system."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    systems: dict[str, list[LevelSummary]] = {}
    for s in levels:
        systems.setdefault(s.system, []).append(s)
    tokens = any(s.output_tokens_per_s > 0 for s in levels)
    figures = [
        (
            "throughput.png",
            "output tokens/s" if tokens else "requests/s",
            (lambda s: s.output_tokens_per_s) if tokens else (lambda s: s.requests_per_s),
        ),
        ("ttft.png", "TTFT p50 (ms)", lambda s: s.ttft_ms.p50),
    ]
    written = []
    for name, label, metric in figures:
        fig, ax = plt.subplots(figsize=(6, 4))
        for system, rows in systems.items():
            rows = sorted(rows, key=lambda s: s.concurrency)
            ax.plot([s.concurrency for s in rows], [metric(s) for s in rows], marker="o", label=system)
        if len({s.concurrency for s in levels}) > 2:
            ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency")
        ax.set_ylabel(label)
        ax.set_title(f"{label} vs concurrency ({levels[0].api})")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(
    levels: list[LevelSummary], config: dict[str, Any], out_dir: Path, rows: list[dict] | None = None
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(to_json(levels, config), encoding="utf-8")
    (out_dir / "table.md").write_text(table(levels) + "\n", encoding="utf-8")
    written = [out_dir / "results.json", out_dir / "table.md"]
    if rows is not None:
        lines = "".join(json.dumps(row) + "\n" for row in rows)
        (out_dir / "requests.jsonl").write_text(lines, encoding="utf-8")
        written.append(out_dir / "requests.jsonl")
    return written + plots(levels, out_dir)
