"""Load generator for any OpenAI-compatible endpoint (and fanyi's /v1/translate), streaming.

    python -m app.bench --system ours=http://127.0.0.1:8000/v1 --system raw=http://127.0.0.1:8100/v1 \
        --model qwen7b-dummy --api chat --concurrency 1,8,64,256 --requests 200 \
        --random-input-len 256 --output-len 256 --out bench-out

Each system is run at each concurrency in turn (closed loop: every in-flight slot sends its next
request when the last one ends), or with `--rate R` as Poisson arrivals at R requests/s with at most
the concurrency in flight. Prompts are sentences from `--prompts-file` or random prompts of
`--random-input-len` tokens. Prints a markdown table; `--out DIR` also writes results.json, table.md,
requests.jsonl (one line per request), throughput.png and ttft.png. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from app.bench.load import PATHS, Api, BodySpec, Level, endpoint, file_prompts, make_client, random_prompts, run_level
from app.bench.metrics import LevelSummary, request_row, summarize


class System(BaseModel):
    name: str
    base_url: str


class BenchConfig(BaseModel):
    """Everything a run depends on; written into results.json."""

    systems: list[System] = Field(min_length=1)
    api: Api = "chat"
    model: str | None = None
    concurrency: list[int] = Field(default=[1], min_length=1)
    requests: int | None = Field(None, ge=1)
    duration: float | None = Field(None, gt=0)
    rate: float | None = Field(None, gt=0)
    warmup: int = Field(0, ge=0)
    prompts_file: Path | None = None
    random_input_len: int | None = Field(None, ge=1)
    token_id_range: tuple[int, int] = (10, 1000)  # inside every vocabulary, the tiny test model's too
    output_len: int | None = Field(None, ge=1)
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0)
    target_lang: str = "en"
    source_lang: str | None = None
    extra_body: dict[str, Any] = {}
    api_key: str | None = Field(None, exclude=True)  # never written to results.json
    timeout: float = Field(600.0, gt=0)
    seed: int = 0

    @field_validator("concurrency")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(c < 1 for c in v):
            raise ValueError("concurrency levels must be >= 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BenchConfig:
        if (self.prompts_file is None) == (self.random_input_len is None):
            raise ValueError("give exactly one of --prompts-file or --random-input-len")
        if self.requests is None and self.duration is None:
            self.requests = 10 * max(self.concurrency)
        if self.api == "translate" and self.output_len:
            raise ValueError("--output-len does not apply to --api translate (the service sizes its output)")
        return self

    def body_spec(self) -> BodySpec:
        return BodySpec(
            api=self.api,
            model=self.model,
            max_tokens=self.output_len or self.max_tokens,
            ignore_eos=self.output_len is not None,
            temperature=self.temperature,
            target_lang=self.target_lang,
            source_lang=self.source_lang,
            extra=self.extra_body,
        )


def parse_system(value: str) -> System:
    name, sep, url = value.partition("=")
    if not sep:  # a bare URL names itself
        name, url = value.split("://")[-1].split("/")[0], value
    return System(name=name, base_url=url)


def prompt_source(cfg: BenchConfig):
    if cfg.prompts_file is not None:
        lines = [ln.strip() for ln in cfg.prompts_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"{cfg.prompts_file} has no non-empty lines")
        return file_prompts(lines)
    return random_prompts(cfg.api, cfg.random_input_len, cfg.seed, cfg.token_id_range)


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="req", disable=not enabled, file=sys.stderr, leave=False)


async def run(cfg: BenchConfig, progress: bool = True, rows: list[dict] | None = None) -> list[LevelSummary]:
    """Every system at every level, one after the other; per-request rows are appended to `rows`."""
    spec, prompts = cfg.body_spec(), prompt_source(cfg)
    summaries = []
    for system in cfg.systems:
        # Same prompts in the same order for every system; the index names a prompt file's line.
        bodies = ((i, spec.build(p)) for i, p in enumerate(prompts()))
        url = endpoint(system.base_url, cfg.api)
        async with make_client(cfg.api_key, max(cfg.concurrency), cfg.timeout) as session:
            if cfg.warmup:
                warm = Level(
                    concurrency=min(cfg.warmup, max(cfg.concurrency)), requests=cfg.warmup, duration=None, rate=None
                )
                await run_level(session, url, cfg.api, bodies, warm)
            for concurrency in cfg.concurrency:
                level = Level(concurrency=concurrency, requests=cfg.requests, duration=cfg.duration, rate=cfg.rate)
                with _progress(cfg.requests, f"{system.name} c={concurrency}", progress) as bar:

                    def done(rec, bar=bar):
                        bar.update(1)
                        if rec.error:
                            bar.set_postfix_str(f"last error {rec.error}", refresh=False)

                    records = await run_level(session, url, cfg.api, bodies, level, seed=cfg.seed, on_done=done)
                summary = summarize(records, system.name, cfg.api, concurrency, cfg.rate)
                if rows is not None and records:
                    first = min(r.start for r in records)
                    rows.extend(request_row(r, system.name, concurrency, first) for r in records)
                summaries.append(summary)
                print(
                    f"{system.name} c={concurrency}: {summary.completed}/{summary.requests} ok, "
                    f"{summary.output_tokens_per_s:.1f} tok/s, TTFT p50 {summary.ttft_ms.p50:.1f} ms"
                    + (f", errors {summary.errors}" if summary.errors else ""),
                    file=sys.stderr,
                    flush=True,
                )
    return summaries


def parse_args(argv: list[str] | None) -> tuple[BenchConfig, Path | None, bool]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--system",
        action="append",
        type=parse_system,
        required=True,
        help="NAME=BASE_URL (base URL ends in /v1); repeat to compare systems",
    )
    p.add_argument("--api", choices=sorted(PATHS), default="chat")
    p.add_argument("--model", help="model id sent in each request (default: the server's default)")
    p.add_argument("--concurrency", default="1", help="comma-separated levels, e.g. 1,8,64,256")
    p.add_argument("--requests", type=int, help="requests per level (default 10x the largest concurrency)")
    p.add_argument("--duration", type=float, help="seconds per level instead of a request count")
    p.add_argument("--rate", type=float, help="Poisson arrivals at this many requests/s (concurrency caps in-flight)")
    p.add_argument("--warmup", type=int, default=0, help="unrecorded requests per system before the sweep")
    p.add_argument("--prompts-file", type=Path, help="one prompt (sentence) per line, used in order")
    p.add_argument("--random-input-len", type=int, help="random prompts of this many tokens")
    p.add_argument("--token-id-range", default="10:1000", help="LO:HI token ids of random completions prompts")
    p.add_argument("--output-len", type=int, help="exactly this many output tokens (max_tokens + ignore_eos)")
    p.add_argument("--max-tokens", type=int, default=128, help="max_tokens when --output-len is not given")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--target-lang", default="en", help="--api translate: target language")
    p.add_argument("--source-lang", help="--api translate: source language (detected when omitted)")
    p.add_argument("--extra-body", default="{}", help="JSON object merged into every request body")
    p.add_argument("--api-key", help="sent as a bearer token")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds without a byte before a request fails")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="directory for results.json, table.md and the PNG plots")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    import json

    lo, _, hi = a.token_id_range.partition(":")
    cfg = BenchConfig(
        systems=a.system,
        api=a.api,
        model=a.model,
        concurrency=[int(c) for c in a.concurrency.split(",") if c],
        requests=a.requests,
        duration=a.duration,
        rate=a.rate,
        warmup=a.warmup,
        prompts_file=a.prompts_file,
        random_input_len=a.random_input_len,
        token_id_range=(int(lo), int(hi)),
        output_len=a.output_len,
        max_tokens=a.max_tokens,
        temperature=a.temperature,
        target_lang=a.target_lang,
        source_lang=a.source_lang,
        extra_body=json.loads(a.extra_body),
        api_key=a.api_key,
        timeout=a.timeout,
        seed=a.seed,
    )
    return cfg, a.out, not a.no_progress


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from app.bench import report as bench_report

    try:
        cfg, out, progress = parse_args(argv)
    except (ValidationError, ValueError) as exc:
        print(f"app.bench: {exc}", file=sys.stderr)
        return 2
    rows: list[dict] = []
    summaries = asyncio.run(run(cfg, progress, rows))
    print(bench_report.table(summaries))
    if out is not None:
        record = {**cfg.model_dump(mode="json"), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for path in bench_report.write(summaries, record, out, rows):
            print(f"wrote {path}", file=sys.stderr)
    return 1 if any(s.errors for s in summaries) else 0
