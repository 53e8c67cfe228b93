"""Where the batch job's model comes from.

Offline mode builds its own engines from a model's settings: that model's `args` entry in a Serve
config file (`--config FILE --model NAME`), so a job runs exactly what the service would. Service
mode uses the running application's model and asks its replica for the prompt style
(`LLMReplica.info`), so rows are prompted as the app prompts them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from app.config import ModelConfig, load_config


class JobError(ValueError):
    """A problem with what the job was asked to do (a missing file, an unknown model): the CLI prints
    it as one line instead of a traceback."""


def model_from_serve_config(path: Path, name: str | None, app_name: str | None = None) -> ModelConfig:
    """A model's ModelConfig from a Serve config file's fanyi application (the first model if no name)."""
    try:
        apps = (yaml.safe_load(path.read_text()) or {}).get("applications") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise JobError(f"--config {path}: not a readable Serve config file ({type(exc).__name__})") from None
    ours = [
        a
        for a in apps
        if a.get("import_path") == "deployments.builder:build_app" and (app_name is None or a.get("name") == app_name)
    ]
    if not ours:
        raise JobError(
            f"--config {path}: no fanyi application (import_path deployments.builder:build_app)"
            + (f" named {app_name!r}" if app_name else "")
        )
    config = load_config(ours[0].get("args") or {})
    model = config.model(name) if name else config.models[0]
    if model is None:
        raise JobError(f"--config {path}: no model named {name!r}; it has {[m.name for m in config.models]}")
    try:  # the config's relative folders start at the config file, wherever the job runs
        return model.with_paths_from(path.resolve().parent)
    except ValueError as exc:
        raise JobError(f"--config {path}: models.{model.name}.{exc}") from None


def deployed_model(app_name: str, name: str | None, timeout_s: float = 120) -> tuple[str, str]:
    """(model name, prompt style) of a model the running application serves; the app's only model
    when no name is given. Needs a Ray connection to the cluster that runs the app."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    if app is None:
        raise JobError(f"no running Serve application named {app_name!r} (--app-name)")
    # Deployment names are fixed by deployments.builder: "LLM:<model name>".
    served = sorted(d.removeprefix("LLM:") for d in app.deployments if d.startswith("LLM:"))
    if name is None:
        if len(served) != 1:
            raise JobError(f"application {app_name!r} serves models {served}: name one with --model")
        name = served[0]
    elif name not in served:
        raise JobError(f"application {app_name!r} serves no model {name!r}; it has {served}")
    info = serve.get_deployment_handle(f"LLM:{name}", app_name=app_name).info.remote().result(timeout_s=timeout_s)
    return name, info["prompt_style"]
