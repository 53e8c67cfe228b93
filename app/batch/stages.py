"""The Ray Data stages of the batch job: read a shard, translate it, write it.

Each Ray Data row is one shard (its rows travel pickled in one binary column), so a shard is read,
translated and committed as a unit and the output keeps one file per input block. The translate
stage is an actor pool of async callable classes: Ray Data keeps several shards in flight per actor
(`max_tasks_in_flight_per_actor`) and the actor's event loop runs all their rows concurrently, so
the engine's batch never runs dry between shards.
"""

from __future__ import annotations

import asyncio
import pickle
import time
from pathlib import Path
from typing import Any

from app.batch.shards import Shard, commit_shard, read_shard, render_output
from app.batch.translate import JobSettings, ShardTranslator, fixed_length
from app.inprocess import LocalHandle


def read_stage(item: dict[str, Any], text_field: str, id_field: str | None) -> dict[str, Any]:
    shard = Shard.model_validate_json(item["shard"])
    rows = read_shard(shard, text_field=text_field, id_field=id_field)
    return {"shard": item["shard"], "rows": pickle.dumps(rows)}


def write_stage(item: dict[str, Any], out_dir: str, output_field: str) -> dict[str, Any]:
    shard = Shard.model_validate_json(item["shard"])
    rows = pickle.loads(item["rows"])
    result = pickle.loads(item["result"])
    for err in result.errors:
        err["file"] = shard.relative
    output = render_output(shard, rows, result.translations, output_field)
    # Wall-clock stamps let the benchmark time the steady state, engine start-up left out.
    commit_shard(shard, Path(out_dir), output, result.errors, {**result.stats, "committed_at": time.time()})
    return {"shard": shard.id, "stats": pickle.dumps(result.stats)}


class _TranslateStage:
    """Shared by both modes: unpack a batch of shards, translate each, pack the results."""

    translator: ShardTranslator | None = None

    async def _ready(self) -> ShardTranslator:
        raise NotImplementedError

    async def __call__(self, batch):
        import pyarrow as pa

        translator = await self._ready()
        shards = batch.column("shard").to_pylist()
        rows = batch.column("rows").to_pylist()
        results = []
        for shard_json, packed in zip(shards, rows):
            shard = Shard.model_validate_json(shard_json)
            result = await translator.translate(shard.id, pickle.loads(packed))
            result.stats["engine_ready_at"] = getattr(translator, "ready_at", None)
            results.append(pickle.dumps(result))
        yield pa.table({"shard": shards, "rows": pa.array(rows, pa.binary()), "result": pa.array(results, pa.binary())})


class OfflineTranslate(_TranslateStage):
    """One engine replica per actor: the service's LLMReplica (tokenizer, context checks, engine)
    and PostProcessor, called in-process. The engine loads on the first batch, on the event loop
    that Ray Data runs this actor's batches on, which is where vLLM's output loop must live."""

    def __init__(self, settings: JobSettings, model: dict[str, Any], fixed_max_tokens: int | None = None):
        self.settings = settings
        self.model = model
        self.fixed_max_tokens = fixed_max_tokens
        self._lock: asyncio.Lock | None = None

    async def _ready(self) -> ShardTranslator:
        if self.translator is not None:
            return self.translator
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.translator is None:
                from deployments.builder import default_engines
                from deployments.llm_replica import LLMReplica
                from deployments.postprocess import PostProcessor

                replica = LLMReplica(self.model, default_engines()[self.model["engine"]])
                await replica.start()
                rewrite = fixed_length(self.fixed_max_tokens) if self.fixed_max_tokens else None
                self.replica = replica
                self.translator = ShardTranslator(
                    self.settings,
                    LocalHandle(replica, rewrite),
                    LocalHandle(PostProcessor()),
                    on_give_up=self._check_engine,
                )
                self.translator.ready_at = time.time()
        return self.translator

    async def _check_engine(self) -> None:
        # A dead engine fails every row; raising here fails the task instead, Ray Data restarts the
        # actor (max_restarts) and retries the shard (max_task_retries), so its rows are not lost.
        await self.replica.check_health()


class ServiceTranslate(_TranslateStage):
    """Rows go to the running Serve application through its DeploymentHandles, the same calls the
    router makes; the model deployment's autoscaling absorbs the load."""

    def __init__(self, settings: JobSettings, app_name: str, max_in_flight: int):
        self.settings = settings
        self.app_name = app_name
        self.max_in_flight = max_in_flight

    async def _ready(self) -> ShardTranslator:
        if self.translator is None:
            from ray import serve

            llm = serve.get_deployment_handle(f"LLM:{self.settings.model}", app_name=self.app_name)
            post = serve.get_deployment_handle("PostProcessor", app_name=self.app_name)
            self.translator = ShardTranslator(self.settings, _Throttled(llm, self.max_in_flight), post)
        return self.translator


class _Throttled:
    """At most `limit` generations of this actor in flight: past the model's queue Serve answers
    503, which the job would only retry."""

    def __init__(self, handle: Any, limit: int):
        self._handle = handle
        self._gate = asyncio.Semaphore(limit)
        self.complete = self

    async def remote(self, req):
        async with self._gate:
            return await self._handle.complete.remote(req)
