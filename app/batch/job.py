"""Batch translation on Ray Data: files in, the same files with a translation added out.

    ray job submit --working-dir . -- python -m app.batch --input corpus/ --output out/ \\
        --source zh --target en --config serve_config.yaml --model gemma-3-270m [--replicas 4]
    python -m app.batch ... --mode service --model gemma-3-270m      # through the running Serve app
    python -m app.batch ... --model-source models/x --device cuda --dtype bfloat16   # no config file

Pipeline (one Ray Data row per shard, see app/batch/stages.py): plan shards -> read -> translate
(segment, prompt, generate, post-process: the service's own path, app/batch/translate.py) -> write,
each shard committed atomically; rerunning the same command skips finished shards. Also a library
function: `run_batch(BatchConfig(...)) -> Summary`; the command line is app/batch/cli.py.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.batch.model import JobError, deployed_model
from app.batch.shards import STATE_DIR, Shard, is_done, plan_shards, read_marker, remove_stale_temps, write_atomic
from app.batch.summary import Summary, score_references
from app.config import ModelConfig
from app.translate import languages

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


def _check_references(cfg: BatchConfig, shards: list[Shard]) -> None:
    """References must line up with the input rows: found out now, not after the whole job ran."""
    try:
        count = len(cfg.references.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(f"--references {cfg.references}: cannot read it ({type(exc).__name__})") from None
    rows = sum(s.end - s.start for s in shards)
    if count != rows:
        raise JobError(f"--references {cfg.references}: {count} lines for {rows} input rows")


def prepare(cfg: BatchConfig) -> tuple[BatchConfig, list[Shard]]:
    """Everything that can be checked before Ray starts: languages, the model, the inputs, the
    references, and the plan pinned in the output folder. Raises ValueError (JobError, UnknownLanguage)
    with a one-line message."""
    cfg = cfg.model_copy(
        update={
            "target": languages.normalize(cfg.target),
            "source": languages.normalize(cfg.source) if cfg.source else None,
        }
    )
    if cfg.mode == "offline" and cfg.model is None:
        raise JobError("offline mode needs a model: --config FILE --model NAME, or --model-source DIR")
    try:
        shards = plan_shards(cfg.input, cfg.block_rows)
    except FileNotFoundError:
        raise JobError(f"--input {cfg.input}: no such file or folder") from None
    except ValueError as exc:
        raise JobError(f"--input {exc}") from None
    if cfg.references is not None:
        _check_references(cfg, shards)
    _pin_plan(cfg, shards)
    return cfg, shards


def _pin_plan(cfg: BatchConfig, shards: list[Shard]) -> None:
    """A rerun with other shard boundaries would mix two plans in one output folder."""
    plan = {"input": str(cfg.input.resolve()), "block_rows": cfg.block_rows, "shards": [s.id for s in shards]}
    path = cfg.output / STATE_DIR / "job.json"
    if path.is_file():
        if json.loads(path.read_text()) != plan:
            raise JobError(
                f"--output {cfg.output} holds another job's output (other input or --block-rows); use a new folder"
            )
    else:
        write_atomic(path, json.dumps(plan, indent=1).encode())


def _settings(cfg: BatchConfig):
    from app.batch.translate import JobSettings

    if cfg.mode == "offline":
        name, style = cfg.model.name, cfg.model.prompt_style
    else:
        name, style = cfg.model_name, cfg.prompt_style
    return JobSettings(
        model=name,
        prompt_style=style,
        source=cfg.source,
        target=cfg.target,
        temperature=cfg.temperature,
        retries=cfg.retries,
        memory_entries=cfg.memory_entries,
    )


def _service_model(cfg: BatchConfig) -> BatchConfig:
    """Service mode: the served model's name and prompt style, from the running app when not given."""
    if cfg.model is not None and cfg.model_name is None:
        cfg = cfg.model_copy(update={"model_name": cfg.model.name})
    if cfg.prompt_style is None:
        if cfg.model is not None:
            name, style = cfg.model.name, cfg.model.prompt_style
        else:
            name, style = deployed_model(cfg.app_name, cfg.model_name)
        cfg = cfg.model_copy(update={"model_name": name, "prompt_style": style})
    elif cfg.model_name is None:
        cfg = cfg.model_copy(update={"model_name": deployed_model(cfg.app_name, None)[0]})
    return cfg


def _translate_stage(ds, cfg: BatchConfig, settings):
    import ray
    from ray.data import ActorPoolStrategy

    from app.batch.stages import OfflineTranslate, ServiceTranslate

    common = {
        "batch_size": 1,
        "batch_format": "pyarrow",
        "max_concurrency": cfg.shards_in_flight,
        # Actor failures: restart the actor, rerun its tasks; their rows are retried whole.
        "max_restarts": 3,
        "max_task_retries": 3,
    }
    if cfg.mode == "service":
        return ds.map_batches(
            ServiceTranslate,
            fn_constructor_kwargs={"settings": settings, "app_name": cfg.app_name, "max_in_flight": cfg.max_in_flight},
            compute=ActorPoolStrategy(size=cfg.replicas, max_tasks_in_flight_per_actor=cfg.shards_in_flight),
            num_cpus=0.25,
            **common,
        )
    from cluster.placement import replica_actor_options

    # offline: vLLM's batch sizes for `vllm.LLM` (throughput first), not those of a server; folders of
    # a --config model are already absolute, those of --model-source start here
    model = cfg.model.with_paths_from(Path.cwd()).model_copy(update={"workload": "offline"})
    options = replica_actor_options(model)  # the same resources and engine env as a Serve replica
    gpus = ray.cluster_resources().get("GPU", 0)
    if options.get("num_gpus", 0) > gpus:  # a warning, not an error: an autoscaler may still add GPUs
        logger.warning(
            "each engine actor needs %s GPU and the cluster has %s now: the job waits for GPUs "
            "(on a CPU-only machine use --device cpu)",
            options["num_gpus"],
            gpus,
        )
    return ds.map_batches(
        OfflineTranslate,
        fn_constructor_kwargs={
            "settings": settings,
            "model": model.model_dump(exclude={"deployment"}),
            "fixed_max_tokens": cfg.fixed_output_tokens,
        },
        compute=ActorPoolStrategy(size=cfg.replicas, max_tasks_in_flight_per_actor=cfg.shards_in_flight),
        num_cpus=options["num_cpus"],
        num_gpus=options.get("num_gpus", 0),
        runtime_env=options["runtime_env"],
        **common,
    )


def run_batch(cfg: BatchConfig) -> Summary:
    """The whole job (library entry point): prepare, translate the shards not done yet, summarise."""
    return execute(*prepare(cfg))


def execute(cfg: BatchConfig, shards: list[Shard]) -> Summary:
    import pickle

    import ray

    from app.batch.stages import read_stage, write_stage

    if removed := remove_stale_temps(cfg.output):
        logger.info("removed %d temp files of an interrupted run", removed)
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
        ds = ds.map(
            write_stage,
            fn_kwargs={"out_dir": str(cfg.output.resolve()), "output_field": cfg.output_field},
            num_cpus=0.25,
        )
        for row in ds.iter_rows():  # drives the pipeline; each row is one committed shard
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
