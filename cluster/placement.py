"""Tensor-parallel size → the Ray resources one replica reserves.

A replica is one Ray actor. Asking Ray for `num_gpus = tensor_parallel_size` on that actor reserves
exactly that many GPUs on a single node (an actor never spans nodes), and vLLM then runs its tensor-
parallel workers as local processes on them (the `mp` executor). That gives one replica per GPU at
TP=1 and one per pair at TP=2 with no placement-group bookkeeping of our own.
"""

from __future__ import annotations

from typing import Any

from app.config import ModelConfig

# vLLM-CPU reserves this many GiB of RAM for the KV cache unless the config says otherwise.
DEFAULT_CPU_KVCACHE_GIB = "1"


def router_actor_options(num_cpus: float) -> dict[str, Any]:
    return {"num_cpus": num_cpus}


def replica_actor_options(model: ModelConfig) -> dict[str, Any]:
    env = dict(model.env)
    opts: dict[str, Any] = {"num_cpus": model.deployment.num_cpus}
    if model.device == "cuda":
        opts["num_gpus"] = model.tensor_parallel_size
    else:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", DEFAULT_CPU_KVCACHE_GIB)
    if env:
        opts["runtime_env"] = {"env_vars": env}
    return opts
