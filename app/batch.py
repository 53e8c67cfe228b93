"""Batch translation on Ray Data: files in, the same files with a translation added out.

    ray job submit --working-dir . -- python -m app.batch --input corpus/ --output out/ \\
        --source zh --target en --config serve_config.yaml --model gemma-3-270m [--replicas 4]
    python -m app.batch ... --mode service --model gemma-3-270m      # through the running Serve app
    python -m app.batch ... --model-source models/x --device cuda --dtype bfloat16   # no config file

Pipeline (one Ray Data row per shard, see app/batch_stages.py): plan shards -> read -> translate
(segment, prompt, generate, post-process: the service's own path, app/batch_translate.py) -> write,
each shard committed atomically; rerunning the same command skips finished shards. Also a library
function: `run_batch(BatchConfig(...)) -> Summary`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from app import languages
from app.batch_io import STATE_DIR, Shard, is_done, plan_shards, read_marker, write_atomic
from app.batch_summary import Summary, score_references
from app.config import ModelConfig, load_config

logger = logging.getLogger("fanyi.batch")


class BatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Path
    output: Path
    target: str
    source: str | None = Field(None, description="Source language; detected per row when omitted.")
    mode: Literal["offline", "service"] = "offline"
    model: ModelConfig | None = Field(None, description="Offline mode: the engine to build in each actor.")
    model_name: str | None = Field(None, description="Service mode: the served model; default the app's first.")
    prompt_style: str | None = Field(None, description="Service mode: override the app's prompt style.")
    app_name: str = "fanyi"
    replicas: int = Field(1, ge=1, description="Offline: engine actors (one per GPU or TP group).")
    shards_in_flight: int = Field(2, ge=1, description="Shards one actor works on at once.")
    block_rows: int = Field(512, ge=1, description="Rows per shard (one output file each).")
    text_field: str = "text"
    id_field: str | None = None
    output_field: str = "translation"
    temperature: float = 0.0
    retries: int = Field(3, ge=0, description="Attempts per row after the first, for engine errors.")
    memory_entries: int = Field(100_000, ge=0, description="Translation memory per actor (0: off).")
    max_in_flight: int = Field(64, ge=1, description="Service mode: generations in flight per actor.")
    fixed_output_tokens: int | None = Field(None, ge=1, description="Benchmarks only: exact output length.")
    references: Path | None = None
    address: str | None = Field(None, description="Ray address; default RAY_ADDRESS or a local instance.")


def model_from_serve_config(path: Path, name: str | None, app_name: str | None = None) -> ModelConfig:
    """A model's ModelConfig from a Serve config file's fanyi application (the first model if no name)."""
    apps = yaml.safe_load(path.read_text()).get("applications") or []
    ours = [a for a in apps if a.get("import_path") == "app.builder:build_app"
            and (app_name is None or a.get("name") == app_name)]
    if not ours:
        raise ValueError(f"{path}: no fanyi application (import_path app.builder:build_app)")
    config = load_config(ours[0].get("args") or {})
    model = config.model(name) if name else config.models[0]
    if model is None:
        raise ValueError(f"{path}: no model named {name!r}; have {[m.name for m in config.models]}")
    return model


def _plan(cfg: BatchConfig) -> list[Shard]:
    """Plan the shards and pin the plan: a rerun with other shard boundaries would mix two plans."""
    shards = plan_shards(cfg.input, cfg.block_rows)
    plan = {"input": str(cfg.input.resolve()), "block_rows": cfg.block_rows, "shards": [s.id for s in shards]}
    path = cfg.output / STATE_DIR / "job.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != plan:
            raise ValueError(f"{cfg.output} holds another job's output (other input or --block-rows); "
                             "use a new --output folder")
    else:
        write_atomic(path, json.dumps(plan, indent=1).encode())
    return shards


def _settings(cfg: BatchConfig):
    from app.batch_translate import JobSettings

    if cfg.mode == "offline":
        name, style = cfg.model.name, cfg.model.prompt_style
    else:
        name, style = cfg.model_name, cfg.prompt_style or "chat"
    return JobSettings(model=name, prompt_style=style, source=cfg.source, target=cfg.target,
                       temperature=cfg.temperature, retries=cfg.retries, memory_entries=cfg.memory_entries)


def deployed_model(app_name: str, name: str | None) -> ModelConfig:
    """The ModelConfig the running application was deployed with, from the Serve controller (the
    same details `serve status` and the dashboard read), so service mode prompts exactly as the app."""
    from ray.serve.context import _get_global_client

    details = _get_global_client().get_serve_details()
    app = (details.get("applications") or {}).get(app_name)
    if not app or not app.get("deployed_app_config"):
        raise ValueError(f"no running Serve application named {app_name!r}")
    config = load_config(app["deployed_app_config"].get("args") or {})
    model = config.model(name) if name else config.models[0]
    if model is None:
        raise ValueError(f"application {app_name!r} serves no model {name!r}; it has {[m.name for m in config.models]}")
    return model


def _service_model(cfg: BatchConfig) -> BatchConfig:
    """Fill in the served model's name and prompt style from the running app when not given."""
    if cfg.model is not None and cfg.model_name is None:
        cfg = cfg.model_copy(update={"model_name": cfg.model.name})
    if cfg.prompt_style is None:
        model = cfg.model if cfg.model is not None else deployed_model(cfg.app_name, cfg.model_name)
        cfg = cfg.model_copy(update={"model_name": model.name, "prompt_style": model.prompt_style})
    return cfg


def _translate_stage(ds, cfg: BatchConfig, settings):
    from ray.data import ActorPoolStrategy

    from app.batch_stages import OfflineTranslate, ServiceTranslate

    common = {"batch_size": 1, "batch_format": "pyarrow", "max_concurrency": cfg.shards_in_flight,
              # Actor failures: restart the actor, rerun its tasks; their rows are retried whole.
              "max_restarts": 3, "max_task_retries": 3}
    if cfg.mode == "service":
        return ds.map_batches(
            ServiceTranslate, fn_constructor_kwargs={"settings": settings, "app_name": cfg.app_name,
                                                     "max_in_flight": cfg.max_in_flight},
            compute=ActorPoolStrategy(size=cfg.replicas, max_tasks_in_flight_per_actor=cfg.shards_in_flight),
            num_cpus=0.25, **common)
    from app.builder import resolve_source
    from cluster.placement import replica_actor_options

    model = cfg.model.model_copy(update={"source": resolve_source(cfg.model.source)})
    options = replica_actor_options(model)  # the same resources and engine env as a Serve replica
    return ds.map_batches(
        OfflineTranslate,
        fn_constructor_kwargs={"settings": settings, "model": model.model_dump(exclude={"deployment"}),
                               "fixed_max_tokens": cfg.fixed_output_tokens},
        compute=ActorPoolStrategy(size=cfg.replicas, max_tasks_in_flight_per_actor=cfg.shards_in_flight),
        num_cpus=options["num_cpus"], num_gpus=options.get("num_gpus", 0), runtime_env=options["runtime_env"],
        **common)


def run_batch(cfg: BatchConfig) -> Summary:
    import ray

    from app.batch_stages import read_stage, write_stage

    cfg = cfg.model_copy(update={"target": languages.normalize(cfg.target),
                                 "source": languages.normalize(cfg.source) if cfg.source else None})
    if cfg.mode == "offline" and cfg.model is None:
        raise ValueError("offline mode needs a model (--config/--model or --model-source)")
    shards = _plan(cfg)
    pending = [s for s in shards if not is_done(s, cfg.output)]
    summary = Summary()
    started = time.perf_counter()
    if pending:
        if not ray.is_initialized():
            ray.init(address=cfg.address, log_to_driver=True)
        if cfg.mode == "service":
            cfg = _service_model(cfg)
        ds = ray.data.from_items([{"shard": s.model_dump_json()} for s in pending], override_num_blocks=len(pending))
        ds = ds.map(read_stage, fn_kwargs={"text_field": cfg.text_field, "id_field": cfg.id_field}, num_cpus=0.25)
        ds = _translate_stage(ds, cfg, _settings(cfg))
        ds = ds.map(write_stage, fn_kwargs={"out_dir": str(cfg.output.resolve()), "output_field": cfg.output_field},
                    num_cpus=0.25)
        for row in ds.iter_rows():  # drives the pipeline; each row is one committed shard
            import pickle

            summary.add(pickle.loads(row["stats"]), this_run=True)
    done_now = {s.id for s in pending}
    for shard in shards:
        if shard.id not in done_now:
            summary.add(read_marker(shard, cfg.output), this_run=False)
    summary.finish(time.perf_counter() - started)
    if cfg.references is not None:
        score_references(summary, shards, cfg.output, cfg.output_field, cfg.references, cfg.source, cfg.target)
    summary.save(cfg.output)
    return summary


def _model_from_args(args) -> ModelConfig | None:
    if args.config:
        return model_from_serve_config(args.config, args.model, args.app_name)
    if args.model_source:
        return ModelConfig(name=args.model or Path(args.model_source).name, source=args.model_source,
                           device=args.device, dtype=args.dtype, max_model_len=args.max_model_len,
                           prompt_style=args.prompt_style or "chat", engine_args=json.loads(args.engine_args),
                           env=json.loads(args.env))
    return None


def parse_args(argv: list[str] | None = None) -> BatchConfig:
    p = argparse.ArgumentParser(prog="python -m app.batch", description=__doc__.splitlines()[0])
    p.add_argument("--input", type=Path, required=True, help="a .txt/.jsonl/.csv/.parquet file or a folder of them")
    p.add_argument("--output", type=Path, required=True, help="output folder (also holds the job state)")
    p.add_argument("--source", help="source language (detected per row when omitted)")
    p.add_argument("--target", required=True)
    p.add_argument("--mode", choices=["offline", "service"], default="offline")
    p.add_argument("--config", type=Path, help="a Serve config file: take --model's settings from its app args")
    p.add_argument("--model", help="model name (in --config, or of the running app in service mode)")
    p.add_argument("--model-source", help="offline without --config: a model folder or Hugging Face id")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--prompt-style", help="chat (instruct models), few_shot (base models), ...")
    p.add_argument("--engine-args", default="{}", help="JSON of extra vLLM engine arguments")
    p.add_argument("--env", default="{}", help="JSON of environment variables for the engine actors")
    p.add_argument("--app-name", default="fanyi")
    p.add_argument("--replicas", type=int, default=1, help="offline: engine actors; service: client actors")
    p.add_argument("--shards-in-flight", type=int, default=2)
    p.add_argument("--block-rows", type=int, default=512)
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field")
    p.add_argument("--output-field", default="translation")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--memory-entries", type=int, default=100_000)
    p.add_argument("--max-in-flight", type=int, default=64)
    p.add_argument("--fixed-output-tokens", type=int, help=argparse.SUPPRESS)  # benchmarks only
    p.add_argument("--references", type=Path, help="line-aligned references: report BLEU and chrF")
    p.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local instance)")
    args = p.parse_args(argv)
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None and k in BatchConfig.model_fields}
    values["model"] = _model_from_args(args)
    if args.mode == "service":
        values["model_name"] = args.model
        values["prompt_style"] = args.prompt_style
    return BatchConfig(**values)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        cfg = parse_args(argv)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = run_batch(cfg)
    print(summary.text())
    print(f"summary: {cfg.output / STATE_DIR / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
