"""The command line of the batch job: `python -m app.batch --help`.

Every mistake in it (a missing input, an unsupported file kind, an unknown language, a model the
--config file does not have, a malformed JSON flag) is reported as one line and exit status 2
before Ray starts; service mode's lookups (no such app or model) likewise, once connected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.batch import job
from app.batch.job import BatchConfig, execute, prepare
from app.batch.model import JobError, model_from_serve_config
from app.batch.shards import STATE_DIR
from app.config import ModelConfig

_DOC = job.__doc__


def _json_object(flag: str, text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise JobError(f'{flag}: expected a JSON object, like \'{{"KEY": "value"}}\', got {text!r}')
    return value


def _model_from_args(args) -> ModelConfig | None:
    if args.config:
        return model_from_serve_config(args.config, args.model, args.app_name)
    if args.model_source:
        return ModelConfig(
            name=args.model or Path(args.model_source).name,
            source=args.model_source,
            device=args.device,
            dtype=args.dtype,
            max_model_len=args.max_model_len,
            prompt_style=args.prompt_style or "chat",
            engine_args=_json_object("--engine-args", args.engine_args),
            env=_json_object("--env", args.env),
        )
    return None


def _one_line(exc: ValidationError) -> str:
    """Pydantic's report as one line naming the flags (field names are the flags' names)."""
    return "; ".join(f"--{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}" for e in exc.errors())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app.batch",
        description=_DOC.split("\n\n")[0],
        epilog="examples:\n" + _DOC.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = p.add_argument_group("input and output")
    io.add_argument(
        "--input", type=Path, metavar="PATH", required=True, help="a .txt/.jsonl/.csv/.parquet file or a folder of them"
    )
    io.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        required=True,
        help="output folder; also holds the job state: rerun the same command to resume",
    )
    io.add_argument("--source", metavar="LANG", help="source language code (default: detected per row)")
    io.add_argument("--target", required=True, metavar="LANG", help="target language code (see GET /v1/languages)")
    io.add_argument(
        "--text-field",
        default="text",
        metavar="FIELD",
        help="jsonl/csv/parquet: the field to translate (default: text)",
    )
    io.add_argument(
        "--id-field", metavar="FIELD", help="jsonl/csv/parquet: the field holding row ids (default: row numbers)"
    )
    io.add_argument(
        "--output-field",
        default="translation",
        metavar="FIELD",
        help="the field added to the output (default: translation)",
    )
    io.add_argument(
        "--block-rows", type=int, default=512, metavar="N", help="rows per shard and output file (default: 512)"
    )
    io.add_argument(
        "--references", type=Path, metavar="FILE", help="line-aligned reference translations: report BLEU and chrF"
    )
    model = p.add_argument_group("model")
    model.add_argument(
        "--mode",
        choices=["offline", "service"],
        default="offline",
        help="offline: own engine actors (default); service: through the running Serve app",
    )
    model.add_argument(
        "--config", type=Path, metavar="FILE", help="offline: a Serve config file; --model's settings come from it"
    )
    model.add_argument("--model", metavar="NAME", help="model name (in --config, or served by the app in service mode)")
    model.add_argument(
        "--model-source", metavar="DIR|HF_ID", help="offline without --config: a model folder or Hugging Face id"
    )
    model.add_argument("--device", choices=["cpu", "cuda"], default="cuda", help="with --model-source (default: cuda)")
    model.add_argument("--dtype", default="auto", metavar="DTYPE", help="with --model-source (default: auto)")
    model.add_argument("--max-model-len", type=int, metavar="TOKENS", help="with --model-source: context length")
    model.add_argument(
        "--prompt-style",
        metavar="STYLE",
        help="chat (instruct models, default with --model-source), few_shot "
        "(base models), plain; service mode reads it from the app",
    )
    model.add_argument(
        "--engine-args", default="{}", metavar="JSON", help="with --model-source: JSON of extra vLLM engine arguments"
    )
    model.add_argument(
        "--env", default="{}", metavar="JSON", help="with --model-source: JSON of environment variables for the engines"
    )
    model.add_argument(
        "--app-name", default="fanyi", metavar="NAME", help="the Serve application (service mode, --config)"
    )
    run = p.add_argument_group("running")
    run.add_argument(
        "--replicas",
        type=int,
        default=1,
        metavar="N",
        help="offline: engine actors, one per GPU or TP group; service: client actors (default: 1)",
    )
    run.add_argument(
        "--shards-in-flight", type=int, default=2, metavar="N", help="shards per actor at once (default: 2)"
    )
    run.add_argument(
        "--max-in-flight", type=int, default=64, metavar="N", help="service: generations in flight per actor"
    )
    run.add_argument("--temperature", type=float, default=0.0, metavar="T", help="sampling temperature (default: 0)")
    run.add_argument(
        "--retries", type=int, default=3, metavar="N", help="attempts per row after the first, on engine errors"
    )
    run.add_argument(
        "--memory-entries",
        type=int,
        default=100_000,
        metavar="N",
        help="translation memory per actor, repeated segments translated once (0: off)",
    )
    run.add_argument("--fixed-output-tokens", type=int, help=argparse.SUPPRESS)  # benchmarks only
    run.add_argument("--address", metavar="HOST:PORT", help="Ray address (default: RAY_ADDRESS, else a local instance)")
    return p


def parse_args(argv: list[str] | None = None) -> BatchConfig:
    """The job's config from the command line; a bad value raises ValueError with one line."""
    args = _parser().parse_args(argv)
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None and k in BatchConfig.model_fields}
    try:
        values["model"] = _model_from_args(args)
        if args.mode == "service":
            values["model_name"] = args.model
            values["prompt_style"] = args.prompt_style
        return BatchConfig(**values)
    except ValidationError as exc:
        raise JobError(_one_line(exc)) from None


def main(argv: list[str] | None = None) -> int:
    try:  # every mistake in the command line is reported here, before Ray starts
        cfg, shards = prepare(parse_args(argv))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        summary = execute(cfg, shards)
    except JobError as exc:  # service mode: no such app or model
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    print(f"summary: {cfg.output / STATE_DIR / 'summary.json'}")
    return 0
