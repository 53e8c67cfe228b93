from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, load_config
from cluster.placement import replica_actor_options

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "serve_config.yaml", *sorted((ROOT / "cluster" / "profiles").glob("*.yaml"))]


def _args(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["applications"][0]["args"]


def _minimal(**model) -> dict:
    return {"models": [{"name": "m", "source": "models/m", **model}]}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    config = load_config(_args(path))
    assert config.models and config.models[0].name


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_scaling_overrides_name_real_deployments(path):
    app = yaml.safe_load(path.read_text())["applications"][0]
    names = {"Router", "PostProcessor"} | {m.deployment_name for m in load_config(app["args"]).models}
    overrides = app.get("deployments", [])
    assert overrides, "ship the scaling knobs in Serve's deployments: section"
    assert {d["name"] for d in overrides} <= names


def test_gpu_profiles_reserve_whole_gpus():
    four_app = yaml.safe_load((ROOT / "cluster/profiles/gpu-4x7b.yaml").read_text())["applications"][0]
    four = load_config(four_app["args"]).models[0]
    assert four.source == "Qwen/Qwen2.5-7B-Instruct"
    assert replica_actor_options(four)["num_gpus"] == 1
    assert four_app["deployments"][0]["autoscaling_config"]["max_replicas"] == 4
    pair_app = yaml.safe_load((ROOT / "cluster/profiles/gpu-2x14b-tp2.yaml").read_text())["applications"][0]
    pair = load_config(pair_app["args"]).models[0]
    assert pair.source == "Qwen/Qwen3-14B"
    assert replica_actor_options(pair)["num_gpus"] == 2
    assert pair_app["deployments"][0]["num_replicas"] == 2


def test_cpu_models_get_a_kv_cache_size_and_no_gpus():
    opts = replica_actor_options(load_config(_minimal(device="cpu")).models[0])
    assert "num_gpus" not in opts
    assert opts["runtime_env"]["env_vars"]["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_unknown_field_is_named():
    with pytest.raises(ConfigError) as err:
        load_config(_minimal(tensor_paralel_size=2))
    assert "args.models.0.tensor_paralel_size" in str(err.value)


def test_autoscaling_bounds_checked():
    with pytest.raises(ConfigError, match="min_replicas"):
        load_config(_minimal(deployment={"autoscaling_config": {"min_replicas": 3, "max_replicas": 2}}))


def test_num_replicas_and_autoscaling_are_exclusive():
    with pytest.raises(ConfigError, match="either num_replicas or autoscaling_config"):
        load_config(_minimal(deployment={"num_replicas": 2, "autoscaling_config": {"max_replicas": 2}}))


def test_duplicate_model_names_rejected():
    args = {"models": [{"name": "a", "source": "x"}, {"name": "a", "source": "y"}]}
    with pytest.raises(ConfigError, match="repeated"):
        load_config(args)


def test_tensor_parallel_on_cpu_rejected():
    with pytest.raises(ConfigError, match="tensor_parallel_size"):
        load_config(_minimal(device="cpu", tensor_parallel_size=2))


def test_engine_args_may_not_shadow_fields():
    with pytest.raises(ConfigError, match="engine_args"):
        load_config(_minimal(engine_args={"dtype": "float16"}))


def test_missing_models_rejected():
    with pytest.raises(ConfigError, match="args.models"):
        load_config({})


def test_serve_options_pass_through():
    cfg = load_config(_minimal(deployment={"num_replicas": 3, "max_queued_requests": 5}))
    opts = cfg.models[0].deployment.serve_options()
    assert opts["num_replicas"] == 3 and opts["max_queued_requests"] == 5
    assert "autoscaling_config" not in opts


def test_adapters_are_routes_of_their_base_and_cover_their_languages():
    config = load_config(
        {
            "models": [
                {
                    "name": "base",
                    "source": "m",
                    "adapters": [{"name": "base-zh", "path": "a", "prompt_style": "plain", "languages": ["zh", "EN"]}],
                }
            ]
        }
    )
    routes = config.routes()
    assert routes["base"] == (config.models[0], None)
    model, adapter = routes["base-zh"]
    assert model.name == "base" and adapter.prompt_style == "plain"
    assert adapter.covers("en", "zh") and adapter.covers("zh", "en")
    assert not adapter.covers("de", "en") and not adapter.covers("zh", "zh")


def test_adapter_names_must_not_clash_with_models():
    with pytest.raises(ConfigError, match="repeated: \\['base'\\]"):
        load_config({"models": [{"name": "base", "source": "m", "adapters": [{"name": "base", "path": "a"}]}]})


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_serve_timeout_sits_above_fanyis_deadlines(path):
    """Serve's request_timeout_s answers in plain text (408) and a client's x-request-timeout-seconds
    moves it; fanyi's deadlines must come first, so clients get its JSON 504/408."""
    serve_config = yaml.safe_load(path.read_text())
    limits = load_config(serve_config["applications"][0]["args"]).limits
    serve_timeout = serve_config["http_options"]["request_timeout_s"]
    assert serve_timeout > limits.max_request_duration_s >= (limits.request_timeout_s or 0)
    assert serve_timeout > limits.body_read_timeout_s


def test_edge_settings_are_read_from_args_with_safe_defaults():
    config = load_config(_minimal())
    assert config.limits.body_read_timeout_s == 60 and config.limits.max_request_duration_s == 900
    assert config.security.allowed_hosts == ["localhost"] and config.security.allow_ip_hosts
    assert config.security.allowed_origins == []
    headers = config.security.response_headers()
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    custom = load_config(
        {
            **_minimal(),
            "security": {
                "allowed_hosts": ["MT.example.org", "[::1]"],
                "allowed_origins": ["https://Tools.example.org/"],
            },
        }
    )
    assert custom.security.allowed_hosts == ["mt.example.org", "::1"]
    assert custom.security.allowed_origins == ["https://tools.example.org"]


def test_relative_folders_start_at_the_config_folder_not_the_package(tmp_path):
    from app.config import ModelConfig

    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "adapters" / "a").mkdir(parents=True)
    (tmp_path / "adapters" / "a" / "adapter_config.json").write_text("{}")
    model = ModelConfig(name="m", source="models/m", adapters=[{"name": "a", "path": "adapters/a"}])
    resolved = model.with_paths_from(tmp_path)
    assert resolved.source == str(tmp_path / "models" / "m")
    assert resolved.adapters[0].path == str(tmp_path / "adapters" / "a")
    hub = ModelConfig(name="q", source="Qwen/Qwen2.5-7B-Instruct").with_paths_from(tmp_path)
    assert hub.source == "Qwen/Qwen2.5-7B-Instruct"  # no such folder: a Hugging Face id
    missing = ModelConfig(name="m", source="models/m", adapters=[{"name": "b", "path": "adapters/b"}])
    with pytest.raises(ValueError, match=r"adapters\.b\.path: no PEFT adapter"):
        missing.with_paths_from(tmp_path)
