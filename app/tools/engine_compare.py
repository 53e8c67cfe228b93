"""transformers vs vLLM, engine against engine: the same Engine interface the replicas use, no HTTP.

    python -m app.tools.engine_compare --model-source models/qwen2.5-7b-shape --device cuda --dtype bfloat16 \\
        --engine-arg load_format=dummy --concurrency 1,16,64 --duration 30 --json compare.json

Each engine runs in its own subprocess (so one's GPU memory is gone before the next loads). At each
concurrency level, that many request loops send random prompts of `--input-len` tokens for
`--output-len` tokens (ignore_eos) until `--duration` ends; tokens still being generated at the end
count too, so an engine that serves one request at a time is not rounded down to zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def _level(engine, prompts: list[list[int]], concurrency: int, output_len: int, duration: float) -> dict:
    from deployments.engine import SamplingOptions

    sampling = SamplingOptions(max_tokens=output_len, temperature=0.0, ignore_eos=True)
    tokens, done, ttfts = 0, 0, []
    deadline = time.perf_counter() + duration
    counter = iter(range(10**9))

    async def loop(worker: int) -> None:
        nonlocal tokens, done
        while time.perf_counter() < deadline:
            n = next(counter)
            started, first = time.perf_counter(), None
            stream = engine.generate(f"c{concurrency}-{n}", prompts[n % len(prompts)], sampling)
            try:
                async for out in stream:
                    if first is None and out.num_new_tokens:
                        first = time.perf_counter() - started
                    tokens += out.num_new_tokens
                    if time.perf_counter() >= deadline:
                        break
                else:
                    done += 1
            finally:
                await stream.aclose()
            if first is not None:
                ttfts.append(first)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    ttfts.sort()
    return {
        "concurrency": concurrency,
        "output_tokens_per_s": round(tokens / elapsed, 1),
        "completed_requests": done,
        "seconds": round(elapsed, 1),
        "ttft_p50_ms": round(1000 * ttfts[len(ttfts) // 2], 1) if ttfts else None,
    }


async def _measure(args) -> dict:
    import torch

    from app.config import ModelConfig
    from app.tools.eval import engine_arg_values
    from deployments.builder import default_engines

    engine_args = engine_arg_values(args.engine_arg)
    config = ModelConfig(
        name="compare",
        source=str(Path(args.model_source).resolve()),
        engine=args.only,
        device=args.device,
        dtype=args.dtype,
        max_model_len=args.input_len + args.output_len + 16,
        engine_args=engine_args,
    )
    cuda = args.device == "cuda" and torch.cuda.is_available()
    free_before = torch.cuda.mem_get_info()[0] if cuda else 0
    engine = default_engines()[args.only](config)
    started = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - started
    # Device-wide, so it covers vLLM's separate engine process too; vLLM reserves its KV cache up front.
    used_gib = (free_before - torch.cuda.mem_get_info()[0]) / 2**30 if cuda else None
    rng = random.Random(0)
    vocab = len(engine.tokenizer)
    prompts = [[rng.randrange(100, vocab - 100) for _ in range(args.input_len)] for _ in range(256)]
    levels = [
        await _level(engine, prompts, c, args.output_len, args.duration) for c in map(int, args.concurrency.split(","))
    ]
    await engine.shutdown()
    return {
        "engine": args.only,
        "load_seconds": round(load_s, 1),
        "device_memory_used_gib": None if used_gib is None else round(used_gib, 2),
        "levels": levels,
    }


def _table(results: list[dict]) -> str:
    rows = [
        "| engine | concurrency | output tok/s | TTFT p50 ms | completed | device memory GiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for lvl in r["levels"]:
            rows.append(
                f"| {r['engine']} | {lvl['concurrency']} | {lvl['output_tokens_per_s']} | "
                f"{lvl['ttft_p50_ms']} | {lvl['completed_requests']} | {r['device_memory_used_gib']} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="transformers vs vLLM engine: tokens/s, TTFT, memory")
    p.add_argument("--model-source", required=True)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--engine-arg", action="append", help="KEY=VALUE, e.g. load_format=dummy")
    p.add_argument("--engines", default="vllm,transformers")
    p.add_argument("--input-len", type=int, default=256)
    p.add_argument("--output-len", type=int, default=256)
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per concurrency level")
    p.add_argument("--json", type=Path)
    p.add_argument("--only", help=argparse.SUPPRESS)  # the per-engine subprocess...
    p.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)  # ...and where it writes its figures
    args = p.parse_args(argv)
    if args.only:
        args.result_file.write_text(json.dumps(asyncio.run(_measure(args))))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            result = Path(tmp) / f"{engine}.json"
            cmd = [
                sys.executable,
                "-m",
                "app.tools.engine_compare",
                *(argv if argv is not None else sys.argv[1:]),
                "--only",
                engine,
                "--result-file",
                str(result),
            ]
            subprocess.run(cmd, check=True)
            results.append(json.loads(result.read_text()))
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
