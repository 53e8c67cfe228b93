"""cluster/ray-cluster.yaml and cluster/kuberay/*.yaml: valid, and their Serve configs are the profiles'."""

import json
from pathlib import Path

import pytest
import yaml

from app.config import load_config

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "cluster" / "kuberay").glob("rayservice-*.yaml"))


def test_a_manifest_per_production_gpu_profile():
    assert {p.name.removeprefix("rayservice-") for p in MANIFESTS} == {"gpu-4x7b.yaml", "gpu-2x14b-tp2.yaml"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_rayservice_embeds_its_profile_and_asks_for_gpus(path):
    import ray

    manifest = yaml.safe_load(path.read_text())
    assert manifest["kind"] == "RayService"
    serve_config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    profile = ROOT / "cluster" / "profiles" / path.name.removeprefix("rayservice-")
    assert serve_config == yaml.safe_load(profile.read_text()), f"{path.name} drifted from {profile.name}"
    load_config(serve_config["applications"][0]["args"])
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__
    [workers] = cluster["workerGroupSpecs"]
    gpus = int(workers["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"])
    needed = max(m.tensor_parallel_size for m in load_config(serve_config["applications"][0]["args"]).models)
    assert gpus >= needed and gpus % needed == 0  # whole replicas per pod


def test_launcher_config_validates_against_rays_schema():
    import jsonschema
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(yaml.safe_load((ROOT / "cluster" / "ray-cluster.yaml").read_text()), schema)


def test_cluster_configs_turn_on_ray_token_auth():
    """Without RAY_AUTH_MODE=token anyone who reaches a Ray port runs code on the cluster (issue 14)."""
    for path in MANIFESTS:
        assert yaml.safe_load(path.read_text())["spec"]["rayClusterConfig"]["authOptions"] == {"mode": "token"}, (
            path.name
        )
    launcher = yaml.safe_load((ROOT / "cluster" / "ray-cluster.yaml").read_text())
    assert "--env RAY_AUTH_MODE=token" in launcher["docker"]["run_options"]  # every container, every command
    assert launcher["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"  # the token, on every node
    assert not any("dashboard-host" in command for command in launcher["head_start_ray_commands"])
    script = (ROOT / "cluster" / "gpu_scaling.sh").read_text()
    assert script.index("\nexport RAY_AUTH_MODE=token") < script.index("\nray start --head")
