"""`make serve`: `serve run CONFIG` on a one-machine Ray cluster that listens on 127.0.0.1 only.

Ray binds its GCS, raylet, object manager, agents, metrics exporter and every worker to the node's
IP address (or to all interfaces), unauthenticated. `ray.init` and `ray start` turn 127.0.0.1 into
the machine's outward IP, except where multi-node clusters are switched off: then the node IP is
127.0.0.1 and every one of those servers binds to loopback. `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` is
that switch (Ray's default on macOS and Windows; on Linux it also makes `ray start --address` refuse
to join, which a one-machine service never does).

One server ignores the node IP: each Serve replica's inter-deployment gRPC server binds `[::]:0`
(Ray 2.58.1, `serve/_private/replica.py`). `bind_replica_grpc_to_node_ip` runs in every worker
process (a `worker_process_setup_hook`) and binds it to the node IP instead, where Serve's routers
connect to it anyway (`RunningReplicaInfo.node_ip`).

    python -m cluster.loopback serve_config.yaml    # what `make serve` runs; Ctrl-C stops it all
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

SINGLE_MACHINE_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
SETUP_HOOK = "cluster.loopback.bind_replica_grpc_to_node_ip"


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """`base` plus the single-machine switch and Serve's throughput flags, which reach the proxy and
    the controller only through the environment of the process that starts Ray."""
    from cluster.placement import SERVE_THROUGHPUT_ENV  # here: workers import this module for the hook

    return {**base, **SERVE_THROUGHPUT_ENV, **SINGLE_MACHINE_ENV}


def command(config: str) -> list[str]:
    """`serve run` of `config` on a new local cluster: `--address local` so that neither RAY_ADDRESS
    nor a cluster left by `ray start` is joined instead."""
    serve = str(Path(sys.executable).with_name("serve"))
    runtime_env = json.dumps({"worker_process_setup_hook": SETUP_HOOK})
    return [serve, "run", "--address", "local", "--runtime-env-json", runtime_env, config]


def bind_replica_grpc_to_node_ip() -> None:
    """Worker setup hook: Serve replicas bind their gRPC server to the node IP, not to `[::]`.

    It wraps Ray's helper where `replica.py` imports it from, before a worker imports Serve (the hook
    runs first), so workers that never host a replica do not pay for importing Serve."""
    import ray
    from ray._common import tls_utils
    from ray._common.network_utils import build_address

    wildcard_bind = tls_utils.add_port_to_grpc_server
    if getattr(wildcard_bind, "binds_node_ip", False):
        return

    def add_port(server, address: str) -> int:
        if address.startswith("[::]:"):
            address = build_address(ray.util.get_node_ip_address(), int(address.rsplit(":", 1)[1]))
        return wildcard_bind(server, address)

    add_port.binds_node_ip = True
    tls_utils.add_port_to_grpc_server = add_port
    replica = sys.modules.get("ray.serve._private.replica")
    if replica is not None:  # imported already (not in a fresh worker): rebind its copy too
        replica.add_port_to_grpc_server = add_port


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m cluster.loopback SERVE_CONFIG.yaml")
    argv_ = command(args[0])
    # exec: `serve run` is the foreground process, so Ctrl-C reaches it and it stops the cluster.
    os.execve(argv_[0], argv_, environment(os.environ))


if __name__ == "__main__":
    main()
