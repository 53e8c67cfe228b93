"""Merge `app.bench` runs made one at a time into one table and one set of plots.

    python -m app.bench.merge --out docs/bench/h100 raw-c1/results.json ours-c1/results.json ...

Two servers of one model rarely fit one GPU together, so a side-by-side comparison is made system
after system on the same machine; this puts the runs back together, as if one run had swept them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from app.bench.metrics import LevelSummary
from app.bench.report import write


def _nan_for_null(value):
    """results.json writes a metric with no samples as null; the summary model holds NaN there."""
    if isinstance(value, dict):
        return {k: _nan_for_null(v) for k, v in value.items()}
    return math.nan if value is None else value


def load(paths: list[Path]) -> tuple[list[LevelSummary], list[dict]]:
    levels, configs = [], []
    for path in paths:
        record = json.loads(path.read_text(encoding="utf-8"))
        configs.append(record.get("config", {}))
        for row in record["results"]:
            stats = {k: _nan_for_null(v) for k, v in row.items() if k.endswith("_ms")}
            levels.append(LevelSummary.model_validate({**row, **stats}))
    levels.sort(key=lambda s: (s.system, s.concurrency))
    return levels, configs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="directory for results.json, table.md and the plots")
    p.add_argument("results", type=Path, nargs="+", help="results.json files of app.bench runs")
    args = p.parse_args(argv)
    missing = [str(r) for r in args.results if not r.is_file()]
    if missing:
        p.error(f"no such file: {', '.join(missing)}")
    levels, configs = load(args.results)
    for path in write(levels, {"merged_from": [str(r) for r in args.results], "runs": configs}, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
