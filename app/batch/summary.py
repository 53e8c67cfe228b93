"""The batch job's final summary: counts summed over shards, throughput of this run, optional scores.

Shards skipped because an earlier run finished them count in the totals (their markers hold their
numbers) but not in this run's throughput, which only covers the work this run did.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from app.batch.shards import STATE_DIR, Shard, read_shard, read_translations, write_atomic

_COUNTS = ("rows", "segments", "cached", "input_tokens", "output_tokens", "errors")


class Summary(BaseModel):
    shards: int = 0
    shards_skipped: int = 0
    rows: int = 0
    segments: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    # this run only
    run_rows: int = 0
    run_input_tokens: int = 0
    run_output_tokens: int = 0
    wall_s: float = 0.0
    output_tokens_per_s: float = 0.0
    total_tokens_per_s: float = 0.0
    bleu: float | None = None
    chrf: float | None = None

    def add(self, stats: dict, this_run: bool) -> None:
        self.shards += 1
        for key in _COUNTS:
            setattr(self, key, getattr(self, key) + int(stats.get(key, 0)))
        if this_run:
            self.run_rows += int(stats.get("rows", 0))
            self.run_output_tokens += int(stats.get("output_tokens", 0))
            self.run_input_tokens += int(stats.get("input_tokens", 0))
        else:
            self.shards_skipped += 1

    def finish(self, wall_s: float) -> Summary:
        self.wall_s = round(wall_s, 2)
        if wall_s > 0:
            self.output_tokens_per_s = round(self.run_output_tokens / wall_s, 1)
            self.total_tokens_per_s = round((self.run_output_tokens + self.run_input_tokens) / wall_s, 1)
        return self

    def text(self) -> str:
        lines = [
            f"shards: {self.shards} ({self.shards_skipped} already done)",
            f"rows: {self.rows} (this run: {self.run_rows})",
            f"segments: {self.segments} ({self.cached} from the translation memory)",
            f"tokens: {self.input_tokens} in, {self.output_tokens} out",
            f"wall time: {self.wall_s} s; {self.output_tokens_per_s} output tok/s, "
            f"{self.total_tokens_per_s} total tok/s",
            f"errors: {self.errors} (see *.errors.jsonl)",
        ]
        if self.bleu is not None:
            lines.append(f"BLEU: {self.bleu}  chrF: {self.chrf}")
        return "\n".join(lines)

    def save(self, out_dir: Path) -> Path:
        path = out_dir / STATE_DIR / "summary.json"
        write_atomic(path, self.model_dump_json(indent=2).encode())
        return path


def score_references(
    summary: Summary,
    shards: list[Shard],
    out_dir: Path,
    output_field: str,
    references: Path,
    source: str | None,
    target: str,
) -> None:
    """sacreBLEU BLEU and chrF of the job's output (every shard, in order) against a line-aligned
    reference file; failed rows count as empty hypotheses."""
    from app.tools.eval import score

    hyps = [t for shard in shards for t in _hypotheses(shard, out_dir, output_field)]
    refs = references.read_text(encoding="utf-8").splitlines()
    if len(refs) != len(hyps):
        raise ValueError(f"{references}: {len(refs)} references for {len(hyps)} output rows")
    result = score("batch", hyps, refs, source or "und", target, summary.wall_s)
    summary.bleu, summary.chrf = result.bleu, result.chrf


def _hypotheses(shard: Shard, out_dir: Path, output_field: str) -> list[str]:
    """One hypothesis per input row of a finished shard. A jsonl output leaves out the input lines
    that were not JSON objects (there is no record to carry), so those rows come back as empty."""
    got = read_translations(shard, out_dir, output_field)
    if shard.format != "jsonl":
        return [t or "" for t in got]
    kept = iter(got)
    return [(next(kept) or "") if isinstance(row.record, dict) else "" for row in read_shard(shard)]
