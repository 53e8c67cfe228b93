"""Plan time of the adversarial inputs in app.bench.attacks, offline: what a router does before any model call.

    python -m app.bench.plan_time                       # every attack, router limits, 120 s per case
    python -m app.bench.plan_time run-digits docx-bomb --timeout 30 --max-segments 0

Planning is `files.extract` for an upload (`documents.read` for a text), then `Translator.plan`
(segment.split and segment.protect of every translatable piece) over the units, with the router's
default limits unless told otherwise.
Each case runs in a fresh process, so a case that runs away is killed at the timeout and its memory
is its own: the table shows the plan time, seconds per MiB of input, the growth of the process's peak
RSS while planning, and the outcome (pieces planned, or the error a client would get).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from app.bench.attacks import CATALOGUE, MIB, FileUpload, TextRequest


@dataclass
class Result:
    case: str
    route: str
    bytes: int  # what is sent: the JSON text or the uploaded file
    content: int  # what is parsed: the attack's size (a .docx's inflated XML)
    seconds: float | None  # None: killed at the timeout
    peak_mib: float | None
    outcome: str


def plan_once(name: str, size: int | None, max_segments: int, max_units: int) -> Result:
    """Build the attack, then time extract + plan in this process."""
    from app import files
    from app.errors import FanyiError
    from app.translate import documents
    from app.translate.translator import Translator

    request = CATALOGUE[name].request(size)
    translator = Translator(None, None, None, max_pieces=max_segments or sys.maxsize)
    length = len(request.data) if isinstance(request, FileUpload) else len(request.text.encode())
    gc.collect()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        if isinstance(request, TextRequest):  # read as the router reads it: markdown and html by app/files
            units, param = documents.read([request.text], request.format, translator.max_pieces).units, "text"
        else:
            doc = files.extract(request.filename, request.data, max_units=max_units)
            units, param = [(u.text, u.fmt) for u in doc.units], "file"
        pieces = translator.plan(units, param)
        outcome = f"{sum(p.masked is not None for p in pieces)} pieces to translate"
    except FanyiError as exc:
        outcome = f"{exc.status_code} {exc.code}"
    seconds = time.perf_counter() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    return Result(name, request.route, length, size or CATALOGUE[name].size, seconds, grown, outcome)


def _run_case(name: str, args: argparse.Namespace) -> Result:
    command = [
        sys.executable,
        "-m",
        "app.bench.plan_time",
        "--one",
        name,
        "--max-segments",
        str(args.max_segments),
        "--max-units",
        str(args.max_units),
    ] + (["--size", str(args.size)] if args.size else [])
    attack = CATALOGUE[name]
    size = args.size or attack.size
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return Result(name, attack.route, size, size, None, None, f"killed after {args.timeout:g} s")
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return Result(name, attack.route, size, size, None, None, f"crashed: {tail[:60]}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def table(results: list[Result]) -> str:
    rows = [
        "| case | route | sent | parsed | plan s | s/MiB parsed | peak +MiB | outcome |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per_mib = "" if r.seconds is None else f"{r.seconds / max(r.content / MIB, 1e-9):.3f}"
        secs = (
            f"> {r.outcome.split()[-2]}"
            if r.seconds is None and r.outcome.startswith("killed")
            else ("" if r.seconds is None else f"{r.seconds:.3f}")
        )
        peak = "" if r.peak_mib is None else f"{r.peak_mib:.0f}"
        rows.append(
            f"| {r.case} | {r.route} | {_size(r.bytes)} | {_size(r.content)} | {secs} | {per_mib} | {peak} "
            f"| {r.outcome} |"
        )
    return "\n".join(rows)


def _size(n: int) -> str:
    return f"{n / MIB:.2f} MiB" if n >= MIB // 10 else f"{n / 1024:.1f} KiB"


def _parser() -> argparse.ArgumentParser:
    from app.config import LimitsConfig

    limits = LimitsConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", help=f"attack names (default: all): {', '.join(CATALOGUE)}")
    p.add_argument("--size", type=int, default=0, help="input size in bytes (default: each attack's own)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before a case is killed")
    p.add_argument("--max-segments", type=int, default=limits.max_segments, help="0: no limit")
    p.add_argument("--max-units", type=int, default=limits.max_file_units)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case in this process
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.one:
        print(json.dumps(asdict(plan_once(args.one, args.size or None, args.max_segments, args.max_units))))
        return 0
    unknown = [name for name in args.cases if name not in CATALOGUE]
    if unknown:
        print(f"unknown cases: {', '.join(unknown)}; known: {', '.join(CATALOGUE)}", file=sys.stderr)
        return 2
    results = []
    for name in args.cases or list(CATALOGUE):
        results.append(_run_case(name, args))
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)  # progress
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in results], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
