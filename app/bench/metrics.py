"""Metrics of a load run as pure functions over per-request records (no I/O, no numpy).

A record holds the client-side timestamps of one request: when it was sent, when each streamed chunk
that carried output arrived, and when the stream ended. Everything reported (TTFT, TPOT, inter-token
latency, end-to-end latency, request and token throughput, errors by type) is derived from those, so
the hot path of the load generator only appends a `time.perf_counter()` per chunk.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel

PERCENTILES = (50, 90, 99)


@dataclass
class RequestRecord:
    """One request as the client saw it. Times are `time.perf_counter()` seconds."""

    start: float
    end: float = 0.0
    chunk_times: list[float] = field(default_factory=list)  # arrivals of chunks that carried output
    output_tokens: int | None = None  # from the server's usage when it sent one
    prompt_tokens: int | None = None
    error: str | None = None  # an error type (see classify_*), None when the request succeeded
    prompt_index: int = -1  # position of its prompt in the prompt source (the file's non-empty lines)

    @property
    def ok(self) -> bool:
        return self.error is None

    def tokens(self) -> int:
        """Output tokens: the server's count when reported, else one per output chunk."""
        return self.output_tokens if self.output_tokens is not None else len(self.chunk_times)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ttft(start: float, chunk_times: list[float]) -> float | None:
    """Time to first token: the first chunk with output after the request was sent."""
    return chunk_times[0] - start if chunk_times else None


def inter_token_latencies(chunk_times: list[float]) -> list[float]:
    """Gaps between successive output chunks (a chunk may carry several tokens when a server merges them)."""
    return [b - a for a, b in zip(chunk_times, chunk_times[1:])]


def tpot(e2e: float, first: float, tokens: int) -> float | None:
    """Time per output token after the first: (e2e - ttft) / (tokens - 1); undefined for one token."""
    if tokens < 2:
        return None
    return (e2e - first) / (tokens - 1)


def classify_http(status: int, body: object) -> str:
    """An HTTP error as `http_<status>` plus the OpenAI error type (and code) when the body has one."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        kind = err.get("code") or err.get("type")
        if kind:
            return f"http_{status}:{kind}"
    return f"http_{status}"


def classify_stream_error(body: dict) -> str:
    """An error sent inside a 200 stream (the header was already gone)."""
    err = body.get("error")
    kind = (err.get("code") or err.get("type")) if isinstance(err, dict) else None
    return f"stream:{kind or 'error'}"


class Stat(BaseModel):
    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, values: list[float], scale: float = 1000.0) -> Stat:
        """Summary in milliseconds (scale 1000) of values in seconds; NaN when there are none."""
        if not values:
            return cls(mean=math.nan, p50=math.nan, p90=math.nan, p99=math.nan)
        return cls(
            mean=sum(values) / len(values) * scale, **{f"p{q}": percentile(values, q) * scale for q in PERCENTILES}
        )


class LevelSummary(BaseModel):
    """One system at one load level."""

    system: str
    api: str
    concurrency: int
    rate: float | None  # requests/s of Poisson arrivals, None for a closed loop
    requests: int
    completed: int
    errors: dict[str, int]
    duration_s: float
    requests_per_s: float
    output_tokens: int
    output_tokens_per_s: float
    mean_prompt_tokens: float | None
    mean_output_tokens: float
    ttft_ms: Stat
    tpot_ms: Stat
    itl_ms: Stat
    e2e_ms: Stat


def summarize(
    records: list[RequestRecord], system: str, api: str, concurrency: int, rate: float | None
) -> LevelSummary:
    """Aggregate a level. Throughput counts successful requests over the level's wall time, from the
    first request sent to the last one finished."""
    good = [r for r in records if r.ok]
    duration = (max(r.end for r in records) - min(r.start for r in records)) if records else 0.0
    tokens = sum(r.tokens() for r in good)
    firsts = [r.chunk_times[0] - r.start for r in good if r.chunk_times]
    # TPOT needs at least two output chunks: a stream that delivers everything at once (fanyi's
    # translate API sends each segment whole) shows the client no per-token timing.
    tpots = [
        t
        for r in good
        if len(r.chunk_times) > 1 and (t := tpot(r.end - r.start, r.chunk_times[0] - r.start, r.tokens())) is not None
    ]
    itls = [gap for r in good for gap in inter_token_latencies(r.chunk_times)]
    prompts = [r.prompt_tokens for r in good if r.prompt_tokens is not None]
    per_s = (lambda n: n / duration) if duration > 0 else (lambda n: 0.0)
    return LevelSummary(
        system=system,
        api=api,
        concurrency=concurrency,
        rate=rate,
        requests=len(records),
        completed=len(good),
        errors=dict(Counter(r.error for r in records if r.error)),
        duration_s=duration,
        requests_per_s=per_s(len(good)),
        output_tokens=tokens,
        output_tokens_per_s=per_s(tokens),
        mean_prompt_tokens=sum(prompts) / len(prompts) if prompts else None,
        mean_output_tokens=tokens / len(good) if good else 0.0,
        ttft_ms=Stat.of(firsts),
        tpot_ms=Stat.of(tpots),
        itl_ms=Stat.of(itls),
        e2e_ms=Stat.of([r.end - r.start for r in good]),
    )


def request_row(rec: RequestRecord, system: str, concurrency: int, level_start: float) -> dict:
    """One request of a level as a JSON line, to find what an outlier was (its prompt) afterwards."""
    first = ttft(rec.start, rec.chunk_times)
    return {
        "system": system,
        "concurrency": concurrency,
        "prompt_index": rec.prompt_index,
        "sent_s": round(rec.start - level_start, 4),
        "ttft_ms": None if first is None else round(first * 1000, 2),
        "e2e_ms": round((rec.end - rec.start) * 1000, 2),
        "chunks": len(rec.chunk_times),
        "output_tokens": rec.output_tokens,
        "prompt_tokens": rec.prompt_tokens,
        "error": rec.error,
    }
