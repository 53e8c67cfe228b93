"""Batch job vs vLLM's own offline `LLM.generate` on the same model, prompts and GPU, in one run.

    python -m app.batch.bench --input A.txt [--input B.txt] --source zh --target en \\
        --model-source models/qwen2.5-7b-shape --device cuda --dtype bfloat16 --max-model-len 4096 \\
        --engine-args '{"load_format": "dummy", "gpu_memory_utilization": 0.9}' --output-tokens 128 \\
        --json /tmp/out/batch_bench.json

1. The prompts: the rows go through the service's translation path (app.translate.translator.Translator,
   segmentation and app/translate/prompts.py) with a recording handle, so raw vLLM gets exactly the requests
   the batch job sends; both sides then generate exactly `--output-tokens` tokens a segment
   (ignore_eos, no stop strings), so their outputs are the same length.
2. Raw: `LLM.generate` over all prompts, in a subprocess so its GPU memory is freed after.
3. Batch: `app.batch.run_batch` on the same rows (offline mode, translation memory off).
Both throughputs leave model loading out: raw times `generate` only; the batch side counts from
its engine being ready to its last shard committed (reading, prompting, post-processing and writing
included). Prints output tokens/s of both and the ratio; `--json` writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.batch.shards import Row
from app.batch.translate import JobSettings, ShardTranslator
from app.config import ModelConfig
from app.inprocess import LocalHandle
from app.translate import languages


class _Recorder:
    """Stands in for the replica and the post-processor: keeps every GenerateRequest."""

    def __init__(self):
        self.requests = []

    async def complete(self, req):
        from app.generation import GenerateChunk

        self.requests.append({"messages": req.messages, "prompt": req.prompt})
        return GenerateChunk("x", 0, 0, "stop")

    async def clean(self, source, output, target_lang, glossary, slots, fmt="plain"):
        return {"text": output, "masked": output, "flags": []}


def record_requests(rows: list[str], model: ModelConfig, source: str, target: str) -> list[dict]:
    recorder = _Recorder()
    settings = JobSettings(
        model=model.name, prompt_style=model.prompt_style, source=source, target=target, memory_entries=0
    )
    translator = ShardTranslator(settings, LocalHandle(recorder), LocalHandle(recorder))
    batch = [Row(id=str(i + 1), number=i, text=t) for i, t in enumerate(rows)]
    asyncio.run(translator.translate("bench", batch))
    return recorder.requests


def raw_generate(model_json: str, requests_path: str, output_tokens: int, result_path: str) -> None:
    """In the subprocess: vLLM's offline API, tokenized exactly as the service's replica does."""
    from vllm import LLM, SamplingParams

    from app.generation import GenerateRequest
    from deployments.llm_replica import prompt_token_ids
    from deployments.vllm_engine import _engine_kwargs

    model = ModelConfig.model_validate_json(model_json)
    kwargs = _engine_kwargs(model)
    kwargs.pop("enable_log_requests", None)  # an AsyncEngineArgs-only field
    started = time.perf_counter()
    llm = LLM(**kwargs)
    load_s = time.perf_counter() - started
    tokenizer = llm.get_tokenizer()
    requests = json.loads(Path(requests_path).read_text())
    ids = [prompt_token_ids(tokenizer, GenerateRequest(request_id=str(i), **r)) for i, r in enumerate(requests)]
    params = SamplingParams(max_tokens=output_tokens, ignore_eos=True, temperature=0.0)
    started = time.perf_counter()
    outputs = llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
    seconds = time.perf_counter() - started
    out_tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    Path(result_path).write_text(
        json.dumps(
            {
                "requests": len(ids),
                "input_tokens": sum(map(len, ids)),
                "output_tokens": out_tokens,
                "seconds": round(seconds, 2),
                "load_s": round(load_s, 1),
                "output_tokens_per_s": round(out_tokens / seconds, 1),
            }
        )
    )


def batch_side(rows: list[str], model: ModelConfig, args, work: Path) -> dict:
    from app.batch.job import BatchConfig, run_batch
    from app.batch.shards import plan_shards, read_marker

    src = work / "rows.txt"
    src.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    cfg = BatchConfig(
        input=src,
        output=work / "out",
        source=args.source,
        target=args.target,
        model=model,
        replicas=args.replicas,
        block_rows=args.block_rows,
        shards_in_flight=args.shards_in_flight,
        memory_entries=0,
        fixed_output_tokens=args.output_tokens,
        address=args.address,
    )
    summary = run_batch(cfg)
    markers = [read_marker(s, cfg.output) for s in plan_shards(src, args.block_rows)]
    ready = min(m["engine_ready_at"] for m in markers if m.get("engine_ready_at"))
    seconds = max(m["committed_at"] for m in markers) - ready
    return {
        "rows": summary.rows,
        "segments": summary.segments,
        "errors": summary.errors,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "seconds": round(seconds, 2),
        "job_wall_s": summary.wall_s,
        "output_tokens_per_s": round(summary.output_tokens / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.batch.bench", description=__doc__.splitlines()[0])
    p.add_argument("--input", type=Path, action="append", required=True, help="txt files, one segment a line")
    p.add_argument("--limit", type=int, help="first N rows of all inputs together")
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--model-source", required=True)
    p.add_argument("--name", default="bench")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--prompt-style", default="chat")
    p.add_argument("--engine-args", default="{}")
    p.add_argument("--env", default="{}")
    p.add_argument("--output-tokens", type=int, default=128)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--block-rows", type=int, default=256)
    p.add_argument("--shards-in-flight", type=int, default=4)
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--address",
        default="local",
        help="Ray address for the batch side (default: a fresh local instance, never another's cluster)",
    )
    p.add_argument("--raw-only", nargs=3, metavar=("REQUESTS", "MODEL_JSON", "RESULT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.raw_only:  # the subprocess
        requests, model_json, result = args.raw_only
        raw_generate(Path(model_json).read_text(), requests, args.output_tokens, result)
        return 0
    args.source, args.target = languages.normalize(args.source), languages.normalize(args.target)
    model = ModelConfig(
        name=args.name,
        source=args.model_source,
        device=args.device,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        prompt_style=args.prompt_style,
        engine_args=json.loads(args.engine_args),
        env=json.loads(args.env),
    )
    rows = [line for path in args.input for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    work = Path(tempfile.mkdtemp(prefix="fanyi-batch-bench-"))
    requests = record_requests(rows, model, args.source, args.target)
    (work / "requests.json").write_text(json.dumps(requests, ensure_ascii=False))
    (work / "model.json").write_text(model.model_dump_json())
    env_cmd = [
        sys.executable,
        "-m",
        "app.batch.bench",
        "--input",
        str(args.input[0]),
        "--source",
        args.source,
        "--target",
        args.target,
        "--model-source",
        args.model_source,
        "--output-tokens",
        str(args.output_tokens),
        "--raw-only",
        str(work / "requests.json"),
        str(work / "model.json"),
        str(work / "raw.json"),
    ]
    import os

    subprocess.run(env_cmd, check=True, env={**os.environ, **model.env})
    raw = json.loads((work / "raw.json").read_text())
    batch = batch_side(rows, model, args, work)
    result = {
        "rows": len(rows),
        "segments": len(requests),
        "output_tokens_per_segment": args.output_tokens,
        "raw_vllm": raw,
        "batch": batch,
        "ratio": round(batch["output_tokens_per_s"] / raw["output_tokens_per_s"], 3),
    }
    print(json.dumps(result, indent=1))
    print(
        f"raw vLLM LLM.generate: {raw['output_tokens_per_s']} output tok/s; batch job: "
        f"{batch['output_tokens_per_s']} output tok/s; ratio {result['ratio']:.1%}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
