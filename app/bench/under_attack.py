"""The adversarial inputs of app.bench.attacks against a running service, with /health probed meanwhile.

    python -m app.bench.under_attack --url http://127.0.0.1:8000            # every attack, once each
    python -m app.bench.under_attack --url URL run-digits docx-bomb --repeat 3 --size 262144

For each attack it sends the request (JSON to /v1/translate, or an upload to /v1/translate/file) and,
while that request is in flight, GETs /health every `--probe-every` seconds. The table shows the
answer's status and error code, how long it took, and /health's latency meanwhile (p50, p99, max):
the router's event loop is free when /health stays fast whatever the attack makes the router parse.
The offline twin, `python -m app.bench.plan_time`, times the planning itself in a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field

import httpx

from app.bench.attacks import CATALOGUE, FileUpload, TextRequest


@dataclass
class Probe:
    """/health while one attack ran."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0  # non-200 or no answer within the probe's timeout

    def summary(self) -> dict[str, float | int | None]:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1) if ordered else None

        return {
            "health_probes": len(ordered) + self.failures,
            "health_failures": self.failures,
            "health_p50_ms": pct(0.5),
            "health_p99_ms": pct(0.99),
            "health_max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
        }


@dataclass
class Row:
    case: str
    status: int | None  # None: no answer (timeout, connection error)
    code: str | None  # the OpenAI error code, or the failure
    seconds: float
    health: dict


async def send(client: httpx.AsyncClient, name: str, size: int | None) -> tuple[int | None, str | None]:
    request = CATALOGUE[name].request(size)
    try:
        if isinstance(request, TextRequest):
            resp = await client.post(request.route, json=request.json())
        else:
            assert isinstance(request, FileUpload)
            resp = await client.post(request.route, data=request.form(), files=request.files())
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    try:
        error = resp.json().get("error") if resp.status_code >= 400 else None
    except ValueError:
        return resp.status_code, "not_json"
    return resp.status_code, (error or {}).get("code") if error is not None else None


async def probe(client: httpx.AsyncClient, every: float, stop: asyncio.Event, out: Probe) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            resp = await client.get("/health", timeout=10.0)
            if resp.status_code == 200:
                out.latencies.append(time.perf_counter() - started)
            else:
                out.failures += 1
        except httpx.HTTPError:
            out.failures += 1
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except asyncio.TimeoutError:
            pass


async def run(
    url: str, names: list[str], size: int | None, repeat: int, every: float, timeout: float, api_key: str | None
) -> list[Row]:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    rows = []
    # Two clients: the probe must not queue behind the attack on one connection pool.
    async with (
        httpx.AsyncClient(base_url=url, timeout=timeout, headers=headers) as attacker,
        httpx.AsyncClient(base_url=url, headers=headers) as prober,
    ):
        for name in names:
            for _ in range(repeat):
                stop, health = asyncio.Event(), Probe()
                watcher = asyncio.create_task(probe(prober, every, stop, health))
                started = time.perf_counter()
                status, code = await send(attacker, name, size)
                seconds = time.perf_counter() - started
                stop.set()
                await watcher
                rows.append(Row(name, status, code, round(seconds, 3), health.summary()))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row]) -> str:
    out = [
        "| case | status | code | seconds | /health probes | p50 ms | p99 ms | max ms | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        h = r.health
        out.append(
            f"| {r.case} | {r.status} | {r.code or ''} | {r.seconds:.3f} | {h['health_probes']} | "
            f"{h['health_p50_ms']} | {h['health_p99_ms']} | {h['health_max_ms']} | {h['health_failures']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", help=f"attack names (default: all): {', '.join(CATALOGUE)}")
    p.add_argument("--url", required=True, help="the service's root URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--size", type=int, help="input size in bytes (default: each attack's own)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--probe-every", type=float, default=0.05, help="seconds between /health probes")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one attack's answer")
    p.add_argument("--api-key")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    unknown = [n for n in args.cases if n not in CATALOGUE]
    if unknown:
        print(f"unknown cases: {', '.join(unknown)}; known: {', '.join(CATALOGUE)}", file=sys.stderr)
        return 2
    rows = asyncio.run(
        run(
            args.url.rstrip("/"),
            args.cases or list(CATALOGUE),
            args.size,
            args.repeat,
            args.probe_every,
            args.timeout,
            args.api_key,
        )
    )
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in rows], f, indent=1)
    # 5xx or no answer is a failure of the service; so is a /health that failed meanwhile.
    bad = [r for r in rows if r.status is None or r.status >= 500 or r.health["health_failures"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
