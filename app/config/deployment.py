"""How Ray Serve runs each deployment: replica counts, autoscaling, queues, health checks, placement.

A subset of Serve's own deployment options, passed through unchanged (`serve_options`); changing
them and running `serve deploy` is a lightweight update.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from app.config.base import Strict


class AutoscalingConfig(Strict):
    """A subset of Ray Serve's autoscaling_config, passed through unchanged."""

    min_replicas: int = Field(1, ge=0, description="Fewest replicas kept running.")
    max_replicas: int = Field(1, ge=1, description="Most replicas ever started.")
    initial_replicas: int | None = Field(None, ge=0, description="Replicas started at deploy time.")
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="In-flight requests per replica that autoscaling aims for."
    )
    upscale_delay_s: float = Field(30.0, ge=0, description="How long load must stay high before scaling up.")
    downscale_delay_s: float = Field(600.0, ge=0, description="How long load must stay low before scaling down.")
    metrics_interval_s: float | None = Field(None, gt=0, description="How often replicas report load.")
    look_back_period_s: float | None = Field(None, gt=0, description="Window the load is averaged over.")

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        if self.initial_replicas is not None and not (self.min_replicas <= self.initial_replicas <= self.max_replicas):
            raise ValueError("initial_replicas must lie between min_replicas and max_replicas")
        return self


class DeploymentOptions(Strict):
    """How Ray Serve runs one deployment. Changing these and running `serve deploy` is a
    lightweight update: Serve adds or removes replicas without restarting the others."""

    num_replicas: int | None = Field(None, ge=1, description="Fixed replica count (excludes autoscaling_config).")
    autoscaling_config: AutoscalingConfig | None = Field(None, description="Autoscaling bounds and target.")
    max_ongoing_requests: int = Field(64, ge=1, description="Requests one replica works on at once.")
    max_queued_requests: int = Field(
        1024, ge=-1, description="Requests waiting for a replica before callers get 503 (-1: unbounded)."
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs reserved per replica.")
    health_check_period_s: float = Field(10.0, gt=0)
    health_check_timeout_s: float = Field(30.0, gt=0)
    graceful_shutdown_timeout_s: float = Field(
        60.0, ge=0, description="How long a replica being removed may finish its requests."
    )

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> DeploymentOptions:
        if self.num_replicas is not None and self.autoscaling_config is not None:
            raise ValueError("set either num_replicas or autoscaling_config, not both")
        return self

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments for `Deployment.options`."""
        opts: dict[str, Any] = {
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "health_check_period_s": self.health_check_period_s,
            "health_check_timeout_s": self.health_check_timeout_s,
            "graceful_shutdown_timeout_s": self.graceful_shutdown_timeout_s,
        }
        if self.autoscaling_config is not None:
            opts["autoscaling_config"] = self.autoscaling_config.model_dump(exclude_none=True)
        else:
            opts["num_replicas"] = self.num_replicas or 1
        return opts


class ModelDeploymentOptions(DeploymentOptions):
    """A model's deployment also says where its replicas may and should run on a multi-node cluster."""

    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources each replica reserves, e.g. {llm_host: 0.01}: a hard constraint, only "
        "nodes started with them (`ray start --resources`) take a replica. GPUs come from tensor_parallel_size.",
    )
    preferred_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Node labels a replica prefers (`ray start --labels`), e.g. {fanyi-pool: gpu-worker}: a soft "
        "constraint, any other feasible node takes the replica when no labelled node can, so a lost node's "
        "replica moves instead of waiting for that node to come back.",
    )

    @model_validator(mode="after")
    def _custom_only(self) -> ModelDeploymentOptions:
        builtin = {"CPU", "GPU", "memory", "object_store_memory"} & self.resources.keys()
        if builtin:
            raise ValueError(
                f"resources holds custom resources only; {sorted(builtin)} come from num_cpus and tensor_parallel_size"
            )
        if any(v <= 0 for v in self.resources.values()):
            raise ValueError("resources amounts must be positive")
        return self


class RouterOptions(DeploymentOptions):
    """The Router is async and cheap per request, so its own limits stay high and unbounded: requests
    must reach the model's bounded queue, whose overflow is fanyi's OpenAI-shaped 503. A full Router
    queue is answered by Serve's proxy in plain text instead. Defaults on the class (not only in
    AppConfig's default_factory) so that a `router:` block setting only num_cpus keeps them."""

    max_ongoing_requests: int = Field(512, ge=1, description="Requests one router replica works on at once.")
    max_queued_requests: int = Field(
        -1,
        ge=-1,
        description="Requests waiting for a router replica (-1: unbounded; a full queue is Serve's "
        "plain-text 503, not fanyi's).",
    )


class PostProcessorOptions(DeploymentOptions):
    """Cleanup is pure CPU work of microseconds per segment: same reasoning as RouterOptions."""

    num_cpus: float = Field(0.25, ge=0, description="CPUs reserved per replica.")
    max_ongoing_requests: int = Field(256, ge=1, description="Requests one replica works on at once.")
    max_queued_requests: int = Field(-1, ge=-1, description="Requests waiting for a replica (-1: unbounded).")
