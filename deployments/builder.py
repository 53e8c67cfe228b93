"""build_app(args) -> the Serve application: one LLMDeployment per model, a Router in front.

`serve run serve_config.yaml` calls `build_app` with the YAML's `args`. Nothing here runs at import;
the config is validated when the app is built, so a bad field fails `serve run`/`serve deploy` with
a message naming it, before any replica starts.

Deployment names are fixed ("LLM:<model name>", "PostProcessor", "Router") because operators scale through the
`deployments:` section of the Serve config, which names them. Serve hashes the `args` into the app's
code version, so a change there rolls every replica, while a changed replica count or autoscaling
setting in `deployments:` is applied in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import serve

from app.api.auth import forwarded_key_env
from app.config import AppConfig, ConfigError, ModelConfig, load_config
from cluster.placement import actor_options, replica_actor_options
from deployments.engine import Engine
from deployments.llm_replica import LLMDeployment
from deployments.postprocess import PostProcessor
from deployments.router import Router


def default_engines() -> dict[str, type[Engine]]:
    from deployments.hf_engine import TransformersEngine
    from deployments.vllm_engine import VLLMEngine

    return {"vllm": VLLMEngine, "transformers": TransformersEngine}


def _check_engine_args(model: ModelConfig) -> None:
    if model.engine != "vllm" or not model.engine_args:
        return
    try:
        from deployments.vllm_engine import engine_arg_names

        known = engine_arg_names()
    except ImportError:  # vllm is not installed where the app is built; the replica will check
        return
    unknown = sorted(set(model.engine_args) - known)
    if unknown:
        raise ConfigError(
            f"invalid fanyi application config:\n  args.models.{model.name}.engine_args: "
            f"unknown vLLM engine arguments {unknown}"
        )


def _app_runtime_env() -> dict[str, Any]:
    """The runtime_env this build runs under: the application's, inside Serve's build task."""
    import ray

    return dict(ray.get_runtime_context().runtime_env or {}) if ray.is_initialized() else {}


def build_from_config(config: AppConfig, engines: dict[str, type[Engine]] | None = None):
    engines = engines or default_engines()
    handles = {}
    for model in config.models:
        _check_engine_args(model)
        try:  # relative folders start where `serve run` was started: the config's folder
            model = model.with_paths_from(Path.cwd())
        except ValueError as exc:  # a missing adapter fails the deploy here, naming it, not in a replica
            raise ConfigError(f"invalid fanyi application config:\n  args.models.{model.name}.{exc}") from None
        init = model.model_dump(exclude={"deployment"})
        options = {
            **model.deployment.serve_options(),
            "name": model.deployment_name,
            "ray_actor_options": replica_actor_options(model),
        }
        handles[model.name] = serve.deployment(LLMDeployment).options(**options).bind(init, engines[model.engine])
    postprocessor = (
        serve.deployment(PostProcessor)
        .options(
            **config.postprocessor.serve_options(),
            name="PostProcessor",
            ray_actor_options=actor_options(config.postprocessor.num_cpus),
        )
        .bind()
    )
    router_init = config.model_dump(exclude={"router": True, "models": {"__all__": {"deployment"}}})
    router_options = {
        **config.router.serve_options(),
        "name": "Router",
        "ray_actor_options": actor_options(config.router.num_cpus, forwarded_key_env(config.auth, _app_runtime_env())),
    }
    return serve.deployment(Router).options(**router_options).bind(handles, router_init, postprocessor)


def build_app(args: dict[str, Any]):
    return build_from_config(load_config(args))
