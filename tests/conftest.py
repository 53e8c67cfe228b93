"""Shared fixtures: a tiny random model, a real local Ray cluster and the fanyi app deployed on it.

The cluster is started with `ray start --head` and the app with `serve deploy` from a YAML file, the
same commands an operator uses, once per test session: vLLM replicas take ~25 s to start on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "models" / ".test"
BIN = Path(sys.executable).parent
APP_NAME = "fanyi"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from app.models.synthetic import write_tiny_model

    model = write_tiny_model(CACHE / "tiny-qwen2")
    write_tiny_adapter(model, ADAPTER)  # the session app serves it, so it must exist before any deploy
    return model


ADAPTER = CACHE / "tiny-adapter"


def write_tiny_adapter(model_dir: Path, out_dir: Path) -> Path:
    """A LoRA adapter from a few app.finetune steps on the tiny model (cached): the session app serves
    it on both tiny models as `tiny-zh` / `tiny-hf-zh`."""
    if (out_dir / "fanyi-adapter.json").is_file():
        return out_dir
    from app.finetune.loop import main

    work = Path(tempfile.mkdtemp(prefix="adapter-", dir=CACHE))
    src, ref = work / "train.zh", work / "train.en"
    src.write_text("".join(f"我们明天见第{i}次。\n" for i in range(48)), encoding="utf-8")
    ref.write_text("".join(f"See you tomorrow, time {i}.\n" for i in range(48)), encoding="utf-8")
    main(
        [
            "--base",
            str(model_dir),
            "--train",
            str(src),
            str(ref),
            "--source",
            "zh",
            "--target",
            "en",
            "--out",
            str(work / "adapter"),
            "--epochs",
            "4",
            "--batch-size",
            "8",
            "--rank",
            "8",
            "--alpha",
            "16",
            # Enough to change the tiny model's greedy answer to its training prompts (test_finetune
            # checks that base-model requests batched with adapter requests do not run through it).
            "--learning-rate",
            "5e-3",
            "--eval-engine",
            "none",
            "--quantization",
            "none",
            "--prompt-style",
            "plain",
            "--holdout",
            "0.1",
        ]
    )
    os.replace(work / "adapter", out_dir)
    shutil.rmtree(work, ignore_errors=True)
    return out_dir


def app_config(tiny_model: Path, port: int, replicas: int = 1) -> dict:
    """Two models: the tiny model on vLLM-CPU and the same weights on the transformers engine, each
    with the tiny LoRA adapter."""
    small = {
        "num_cpus": 0.5,
        "max_ongoing_requests": 16,
        "max_queued_requests": 64,
        "health_check_period_s": 2,
        "graceful_shutdown_timeout_s": 20,
    }
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "127.0.0.1", "port": port, "request_timeout_s": 120},
        "applications": [
            {
                "name": APP_NAME,
                "route_prefix": "/",
                "import_path": "deployments.builder:build_app",
                "args": {
                    "models": [
                        {
                            "name": "tiny",
                            "source": str(tiny_model),
                            "device": "cpu",
                            "dtype": "bfloat16",
                            "max_model_len": 1024,
                            "env": {"VLLM_CPU_KVCACHE_SPACE": "1"},
                            "adapters": [{"name": "tiny-zh", "path": str(ADAPTER), "prompt_style": "plain"}],
                            "deployment": small,
                        },
                        {
                            "name": "tiny-hf",
                            "source": str(tiny_model),
                            "device": "cpu",
                            "engine": "transformers",
                            "max_model_len": 1024,
                            "adapters": [{"name": "tiny-hf-zh", "path": str(ADAPTER), "prompt_style": "plain"}],
                            "deployment": {**small, "num_replicas": 1},
                        },
                    ],
                    "router": {"num_cpus": 0.25, "num_replicas": 1, "max_ongoing_requests": 256},
                    "limits": {"max_request_bytes": 65536, "max_file_bytes": 200000},
                },
                # Scaling lives in Serve's own section: changing it is applied in place.
                "deployments": [{"name": "LLM:tiny", "num_replicas": replicas}],
            }
        ],
    }


class Cluster:
    """A local Ray head started like an operator would, and the `serve` CLI pointed at it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.dashboard_port = free_port()
        self.http_port = free_port()
        self.gcs_port = free_port()
        # Token auth off: a loopback test cluster, and the same mode for `ray start` and the `serve`
        # CLI whatever ~/.ray holds from earlier `serve run`s.
        self.env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",
        }

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run(args, env=self.env, cwd=ROOT, timeout=timeout, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done

    def start(self, *extra: str) -> None:
        self.run(
            str(BIN / "ray"),
            "start",
            "--head",
            "--num-cpus",
            "8",
            "--port",
            str(self.gcs_port),
            "--dashboard-port",
            str(self.dashboard_port),
            "--include-dashboard",
            "true",
            "--temp-dir",
            str(self.workdir / "ray"),
            "--disable-usage-stats",
            *extra,
        )

    def start_worker(self, name: str, *extra: str) -> Path:
        """Join a second node on this host (`ray start --address`), with its own temp dir under ours
        and its own agent ports: two raylets on one machine must not share either. Returns the temp dir."""
        temp = self.workdir / name
        self.run(
            str(BIN / "ray"),
            "start",
            "--address",
            f"127.0.0.1:{self.gcs_port}",
            "--node-ip-address",
            "127.0.0.1",
            "--temp-dir",
            str(temp),
            "--disable-usage-stats",
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
            *extra,
        )
        return temp

    def deploy(self, config: dict) -> None:
        path = self.workdir / "serve_config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.run(str(BIN / "serve"), "deploy", str(path), "-a", f"http://127.0.0.1:{self.dashboard_port}")

    def serve(self, config: dict) -> None:
        """Deploy, then wait until the app runs and answers HTTP."""
        self.deploy(config)
        self.wait_running()
        _wait_http(self.url + "/v1/models")

    def status(self) -> dict:
        out = self.run(str(BIN / "serve"), "status", "-a", f"http://127.0.0.1:{self.dashboard_port}", timeout=60)
        return yaml.safe_load(out.stdout)

    def wait_running(self, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app = (self.status().get("applications") or {}).get(APP_NAME, {})
            if app.get("status") == "RUNNING":
                return app
            if app.get("status") == "DEPLOY_FAILED":
                raise RuntimeError(f"deploy failed: {app.get('message')}")
            time.sleep(2)
        raise TimeoutError(f"app not running after {timeout}s: {self.status()}")

    def stop(self, under: Path | None = None) -> None:
        """Stop this cluster only (`ray stop` would end every Ray cluster on the machine): its GCS and
        raylet name our temp dir on their command lines, and every other process of it descends from
        them (workers and agents rename themselves, so they are found as children). `under`: only the
        node whose temp dir that is (a worker from `start_worker`)."""
        import psutil

        def ours(cmd: list[str]) -> bool:  # a Ray program started for this cluster's temp dir
            return any("site-packages/ray/" in part for part in cmd[:3]) and str(under or self.workdir) in " ".join(cmd)

        roots = [p for p in psutil.process_iter(["cmdline"]) if ours(p.info["cmdline"] or [])]
        mine = {p.pid: p for root in roots for p in [root, *root.children(recursive=True)]}.values()
        for proc in mine:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(mine, timeout=20)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="session")
def cluster(tiny_model):
    # Ray's socket paths must stay under 107 characters: pytest's tmp paths are too deep.
    workdir = Path(tempfile.mkdtemp(prefix="fanyi-", dir="/tmp"))
    cluster = Cluster(workdir)
    cluster.start()
    try:
        cluster.serve(app_config(tiny_model, cluster.http_port))
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(url)


@pytest.fixture(scope="session")
def serve_handles(cluster):
    """Connect this test process to the cluster as a Ray driver, to reach replicas by handle."""
    import ray
    from ray import serve

    ray.init(address=f"127.0.0.1:{cluster.gcs_port}", log_to_driver=False)
    yield lambda deployment: serve.get_deployment_handle(deployment, app_name=APP_NAME)
    ray.shutdown()


@pytest.fixture(scope="session")
def base_url(cluster) -> str:
    return cluster.url


@pytest.fixture()
def client(base_url):
    import openai

    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120)
