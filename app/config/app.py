"""The whole application (`args:`): models, the router and post-processor in front of them, limits,
access control and the HTTP edge; and `load_config`, whose errors name each bad field's path."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, model_validator

from app.config.access import AuthConfig, SecurityConfig
from app.config.base import Strict
from app.config.deployment import PostProcessorOptions, RouterOptions
from app.config.limits import LimitsConfig
from app.config.model import AdapterConfig, ModelConfig


class AppConfig(Strict):
    """The whole application: models, the router in front of them and request limits."""

    models: list[ModelConfig] = Field(min_length=1, description="Served models; the first is the default.")
    # One replica each unless the Serve config's `deployments:` section scales them (see builder).
    router: RouterOptions = Field(default_factory=RouterOptions)
    postprocessor: PostProcessorOptions = Field(default_factory=PostProcessorOptions)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> AppConfig:
        names = [m.name for m in self.models] + [a.name for m in self.models for a in m.adapters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model and adapter names must be unique; repeated: {dupes}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    def routes(self) -> dict[str, tuple[ModelConfig, AdapterConfig | None]]:
        """Every name a client may send as `model`: base models and their adapters."""
        out: dict[str, tuple[ModelConfig, AdapterConfig | None]] = {}
        for m in self.models:
            out[m.name] = (m, None)
            out.update({a.name: (m, a) for a in m.adapters})
        return out


class ConfigError(ValueError):
    """Raised by `load_config` with one line per bad field, each naming its path in the YAML."""


def load_config(args: dict[str, Any]) -> AppConfig:
    try:
        return AppConfig.model_validate(args)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"]) or "(args)"
            lines.append(f"  args.{path}: {err['msg']}")
        raise ConfigError("invalid fanyi application config:\n" + "\n".join(lines)) from None
