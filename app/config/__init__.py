"""Pydantic models of the application's arguments (the `args:` block of serve_config.yaml).

They are validated when the app is built (`deployments.builder.build_app`), never at import, and every model
forbids unknown keys so that a typo in the YAML is an error naming the field instead of a silent default.
"""

from app.config.access import ApiKeyConfig, AuthConfig, SecurityConfig
from app.config.app import AppConfig, ConfigError, load_config
from app.config.deployment import (
    AutoscalingConfig,
    DeploymentOptions,
    ModelDeploymentOptions,
    PostProcessorOptions,
    RouterOptions,
)
from app.config.limits import LimitsConfig
from app.config.model import AdapterConfig, ModelConfig, PromptStyle

__all__ = [
    "AdapterConfig",
    "ApiKeyConfig",
    "AppConfig",
    "AuthConfig",
    "AutoscalingConfig",
    "ConfigError",
    "DeploymentOptions",
    "LimitsConfig",
    "ModelConfig",
    "ModelDeploymentOptions",
    "PostProcessorOptions",
    "PromptStyle",
    "RouterOptions",
    "SecurityConfig",
    "load_config",
]
