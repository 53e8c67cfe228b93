"""Two Ray nodes on one machine, joined like hosts are (`ray start --head`, `ray start --address`):
the model's replica prefers the worker node, serves from it, and moves to the head when the worker
node is stopped, with requests served again afterwards.

Placement (docs/reliability.md, "Multi-node scale-out"): both nodes offer the custom resource
`llm_host` (a hard requirement: only nodes meant for models take a replica), and only the worker
carries the label `fanyi-pool=worker`, which the replica prefers (`deployment.preferred_labels`, a
soft constraint). A hard pin to the worker could not move anywhere once that node is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import APP_NAME, Cluster, _wait_http, app_config

pytestmark = pytest.mark.integration

# Each of: the deploy to a running app on two nodes, and the worker node's stop to an answer from the
# replica on the head. Measured 35-42 s each on an idle 2-core machine, nearly all of it vLLM's start
# (docs/reliability.md); the margin is for a slower or busier CI machine.
SERVE_AGAIN_S = 300


@pytest.fixture(scope="module")
def two_nodes(tiny_model):
    workdir = Path(tempfile.mkdtemp(prefix="fanyi-mn-", dir="/tmp"))
    print(f"multi-node cluster under {workdir}")  # FANYI_KEEP_TMP=1 keeps it, with both nodes' logs
    cluster = Cluster(workdir)
    try:
        cluster.start("--node-ip-address", "127.0.0.1", "--resources", '{"llm_host": 1}')
        worker_dir = cluster.start_worker(
            "worker", "--num-cpus", "4", "--resources", '{"llm_host": 1}', "--labels", "fanyi-pool=worker"
        )
        yield cluster, worker_dir
    finally:
        cluster.stop()
        if not os.environ.get("FANYI_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)


def _config(tiny_model: Path, port: int) -> dict:
    config = app_config(tiny_model, port)
    config["proxy_location"] = "HeadOnly"  # one HTTP port on this host: both nodes would bind it
    args = config["applications"][0]["args"]
    args["models"] = [m for m in args["models"] if m["name"] == "tiny"]  # one engine: 2 cores
    # Two Ray nodes share this host's cores, and so may other vLLM engines: vLLM-CPU's automatic
    # binding (made for a host of its own) pins every engine's worker process to the same core (core 0
    # here), where a busy neighbour starved this replica's start for minutes (docs/reliability.md).
    # Unpinned, the worker runs on whichever core is free, with the one thread Ray's OMP_NUM_THREADS
    # gives a replica of num_cpus < 1, as many as the pinned worker had on 2 cores.
    args["models"][0]["env"]["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
    args["models"][0]["deployment"].update(resources={"llm_host": 0.01}, preferred_labels={"fanyi-pool": "worker"})
    return config


def _llm_node(cluster: Cluster, head_node_id: str) -> tuple[str, str] | None:
    """(node id of the one live LLM replica, 'head' or 'worker'), None while there is none."""
    from ray.util.state import list_actors

    actors = list_actors(
        address=f"http://127.0.0.1:{cluster.dashboard_port}",
        filters=[("class_name", "=", f"ServeReplica:{APP_NAME}:LLM:tiny"), ("state", "=", "ALIVE")],
        raise_on_missing_output=False,
    )  # dead actors count as "truncated"
    if len(actors) != 1:
        return None
    return actors[0].node_id, "head" if actors[0].node_id == head_node_id else "worker"


def _alive_nodes(cluster: Cluster) -> list:
    from ray.util.state import list_nodes

    return list_nodes(
        address=f"http://127.0.0.1:{cluster.dashboard_port}",
        filters=[("state", "=", "ALIVE")],
        raise_on_missing_output=False,
    )  # counts the dead node as "truncated"


def _served(client: openai.OpenAI) -> bool:
    reply = client.completions.create(model="tiny", prompt="hello", max_tokens=8)
    return reply.usage.completion_tokens > 0


def _llm_diagnosis(cluster: Cluster) -> str:
    """What a stuck LLM replica was doing, for the failure message: the tail of its logs on each
    node, and the CPU affinity and CPU time of the live replica's processes (vLLM-CPU pins its worker
    process to one core; a busy core shared with another engine starved a start, docs/reliability.md)."""
    import psutil
    from ray.util.state import list_actors

    out = []
    for node in sorted(p for p in cluster.workdir.iterdir() if (p / "session_latest").is_dir()):
        logs = node / "session_latest" / "logs"
        files = sorted(logs.glob("serve/replica_*_LLM_tiny_*.log"))
        files += [
            f
            for f in sorted(logs.glob("worker-*.*"))
            if f.suffix in (".out", ".err") and "ServeReplica:fanyi:LLM:tiny" in f.read_text(errors="replace")[:300]
        ]
        for f in files:
            tail = f.read_text(errors="replace").splitlines()[-8:]
            out.append(f"--- {node.name}/{f.relative_to(logs)}\n" + "\n".join(line[:300] for line in tail))
    try:
        actors = list_actors(
            address=f"http://127.0.0.1:{cluster.dashboard_port}",
            filters=[("class_name", "=", f"ServeReplica:{APP_NAME}:LLM:tiny"), ("state", "=", "ALIVE")],
            raise_on_missing_output=False,
        )
        for actor in actors:
            root = psutil.Process(actor.pid)
            for proc in [root, *root.children(recursive=True)]:
                with proc.oneshot():
                    out.append(
                        f"pid {proc.pid} {proc.name()} {proc.status()} cpus={proc.cpu_affinity()} "
                        f"cpu_s={sum(proc.cpu_times()[:2]):.1f}"
                    )
    except Exception as exc:  # diagnosis only: never hide the real failure
        out.append(f"(no process info: {exc!r})")
    return "\n".join(out)


def test_replica_prefers_the_worker_and_moves_to_the_head_when_it_stops(two_nodes, tiny_model):
    # Ray's state API at this cluster's dashboard, with no driver connection: in the full suite this
    # process is already a driver of the session cluster (`serve_handles`), and ray.init would fail.
    cluster, worker_dir = two_nodes
    started = time.monotonic()
    cluster.deploy(_config(tiny_model, cluster.http_port))
    try:
        cluster.wait_running(timeout=SERVE_AGAIN_S)  # this and the move below stay under pytest's 900 s
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{_llm_diagnosis(cluster)}") from None
    _wait_http(cluster.url + "/v1/models")
    print(f"app running on two nodes {time.monotonic() - started:.0f} s after the deploy")
    client = openai.OpenAI(base_url=cluster.url + "/v1", api_key="unused", max_retries=0, timeout=120)

    nodes = _alive_nodes(cluster)
    assert len(nodes) == 2
    head = next(n.node_id for n in nodes if n.is_head_node)
    worker = next(n.node_id for n in nodes if not n.is_head_node)
    assert next(n for n in nodes if not n.is_head_node).labels.get("fanyi-pool") == "worker"
    assert _llm_node(cluster, head) == (worker, "worker")  # the labelled node, while it is there
    assert _served(client)  # the only replica of the model is on the worker: it served this

    cluster.stop(under=worker_dir)  # the worker node's raylet and everything under it
    stopped = time.monotonic()
    deadline = stopped + SERVE_AGAIN_S
    while (where := _llm_node(cluster, head)) != (head, "head"):
        assert time.monotonic() < deadline, f"replica not rescheduled on the head: {where}\n{_llm_diagnosis(cluster)}"
        time.sleep(1)
    print(f"replica placed on the head {time.monotonic() - stopped:.0f} s after the worker node stopped")
    try:
        cluster.wait_running(timeout=max(deadline - time.monotonic(), 1))
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{_llm_diagnosis(cluster)}") from None
    assert _served(client)
    moved = time.monotonic() - stopped
    print(f"replica serving again on the head {moved:.0f} s after the worker node stopped")
    assert [n.node_id for n in _alive_nodes(cluster)] == [head]
    assert httpx.get(cluster.url + "/health", timeout=30).status_code == 200
