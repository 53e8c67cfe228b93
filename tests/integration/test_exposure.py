"""`make serve` keeps Ray's control plane off the network.

The service is started the way `make serve` starts it (`python -m cluster.loopback CONFIG`, same
environment; only the config is the tiny test app, on a port of its own, and Ray's temp dir is ours).
Once both engines have answered, every socket that any process of that cluster listens on must be on
loopback (127.0.0.1, ::1, or 127.0.0.1 mapped into IPv6), and the machine's own addresses must
refuse every one of those ports: before, GCS, raylets, agents, workers and Serve's replica gRPC
servers listened on all interfaces and `ray status --address <host ip>:<gcs port>` answered.
Then Ctrl-C (SIGINT to the foreground process group, as a terminal sends it) must end the cluster.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from tests.conftest import BIN, ROOT, app_config, free_port

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Listener:
    ip: str
    port: int
    process: str


@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    log: Path


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # Python 3.11 does not call ::ffff:127.0.0.1 loopback
    return addr.is_loopback


def session_processes(leader: int) -> list[psutil.Process]:
    """Every process of the session `leader` started (the whole cluster, reparented ones too)."""
    found = {}
    try:
        root = psutil.Process(leader)
        found = {p.pid: p for p in [root, *root.children(recursive=True)]}
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == leader:
                found.setdefault(proc.pid, proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            pass
    return list(found.values())


def listeners(procs: list[psutil.Process]) -> list[Listener]:
    names = {}
    for proc in procs:
        try:
            names[proc.pid] = proc.name()
        except psutil.NoSuchProcess:
            pass
    return [
        Listener(c.laddr.ip, c.laddr.port, names[c.pid])
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in names
    ]


def outward_ips() -> list[str]:
    """This machine's addresses other than loopback (link-local IPv6 needs a scope: left out)."""
    ips = []
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family in (socket.AF_INET, socket.AF_INET6) and "%" not in addr.address:
                ip = ipaddress.ip_address(addr.address)
                if not ip.is_loopback and not ip.is_link_local:
                    ips.append(addr.address)
    return ips


def stop(leader: int, sig: signal.Signals, timeout: float) -> list[psutil.Process]:
    """Signal every process of the session; the ones still alive after `timeout`."""
    procs = session_processes(leader)
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return alive


@pytest.fixture(scope="module")
def served(tiny_model):
    # Ray's socket paths must stay under 107 characters: a short temp dir of our own.
    workdir = Path(tempfile.mkdtemp(prefix="fanyi-exp-", dir="/tmp"))
    port = free_port()
    config = workdir / "serve_config.yaml"
    config.write_text(yaml.safe_dump(app_config(tiny_model, port), sort_keys=False))
    log = workdir / "serve.log"
    # The Makefile's environment: PATH with the venv first. RAY_TMPDIR keeps this cluster's files
    # (and so its processes' command lines) apart from other clusters on the machine.
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "RAY_TMPDIR": str(workdir),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    with log.open("wb") as out:
        # start_new_session: the cluster is one process group, as under a terminal, and ours alone.
        proc = subprocess.Popen(
            [sys.executable, "-m", "cluster.loopback", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_healthy(served, timeout=600)
        yield served
    finally:
        for left in stop(proc.pid, signal.SIGTERM, timeout=20):
            left.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_healthy(served: Served, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(f"`cluster.loopback` exited {served.proc.returncode}:\n{served.log.read_text()[-3000:]}")
        try:
            if httpx.get(served.url + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise TimeoutError(f"not healthy after {timeout} s:\n{served.log.read_text()[-3000:]}")


def test_both_engines_answer(served):
    # Every server the engines start lazily is up before the sockets are counted below.
    for model in ("tiny", "tiny-hf"):
        r = httpx.post(
            served.url + "/v1/completions",
            timeout=120,
            json={"model": model, "prompt": "hello", "max_tokens": 4, "temperature": 0},
        )
        assert r.status_code == 200, r.text


def test_nothing_listens_beyond_loopback(served):
    found = listeners(session_processes(served.proc.pid))
    names = {listener.process for listener in found}
    # The cluster was really seen: its GCS, raylet, Serve's proxy with the API port.
    assert {"gcs_server", "raylet"} <= names, names
    assert any(listener.port == int(served.url.rsplit(":", 1)[1]) for listener in found)
    exposed = [listener for listener in found if not is_loopback(listener.ip)]
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_outward_addresses_refuse_every_ray_port(served):
    ips = outward_ips()
    if not ips:
        pytest.skip("this machine has no address besides loopback")
    found = listeners(session_processes(served.proc.pid))
    gcs = [listener.port for listener in found if listener.process == "gcs_server"]
    assert gcs
    # `ray status --address <ip>:<gcs port>` retries a refused connection for ~45 s and then fails;
    # the refusal itself is what matters, for the GCS and every other port of the cluster.
    for ip in ips:
        for port in sorted({listener.port for listener in found}):
            with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
                s.settimeout(5)
                with pytest.raises(ConnectionRefusedError):
                    s.connect((ip, port))


def test_ctrl_c_stops_the_whole_cluster(served):
    # Last: it ends the module's service. A terminal's Ctrl-C signals the foreground process group.
    os.killpg(served.proc.pid, signal.SIGINT)
    try:
        served.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`serve run` still running 90 s after Ctrl-C:\n{served.log.read_text()[-2000:]}")
    _, alive = psutil.wait_procs(session_processes(served.proc.pid), timeout=30)
    assert not alive, f"left running after Ctrl-C: {[p.pid for p in alive]}"
