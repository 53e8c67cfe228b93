"""Pydantic models of the application's arguments (the `args:` block of serve_config.yaml).

They are validated when the app is built (`deployments.builder.build_app`), never at import, and every model
forbids unknown keys so that a typo in the YAML is an error naming the field instead of a silent default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.config.access import AuthConfig, SecurityConfig

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoscalingConfig(_Strict):
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
    def _bounds(self) -> "AutoscalingConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        if self.initial_replicas is not None and not (
            self.min_replicas <= self.initial_replicas <= self.max_replicas
        ):
            raise ValueError("initial_replicas must lie between min_replicas and max_replicas")
        return self


class DeploymentOptions(_Strict):
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
    def _one_scaling_mode(self) -> "DeploymentOptions":
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
    def _custom_only(self) -> "ModelDeploymentOptions":
        builtin = {"CPU", "GPU", "memory", "object_store_memory"} & self.resources.keys()
        if builtin:
            raise ValueError(f"resources holds custom resources only; {sorted(builtin)} come from num_cpus and "
                             "tensor_parallel_size")
        if any(v <= 0 for v in self.resources.values()):
            raise ValueError("resources amounts must be positive")
        return self


PromptStyle = Literal["chat", "few_shot", "plain"]


class AdapterConfig(_Strict):
    """A LoRA adapter served on its base model's replicas, called by its own name as `model`."""

    name: str = Field(description="The id clients send as `model` to use this adapter.")
    path: str = Field(description="A PEFT adapter folder (adapter_config.json + weights), e.g. from app.finetune.")
    prompt_style: PromptStyle | None = Field(
        None, description="The prompt format the adapter was trained on (app.finetune prints it); "
        "default: the base model's.")
    languages: list[str] = Field(
        default_factory=list,
        description="Languages the adapter was tuned on, e.g. [zh, en]: a translation that names no model and "
        "goes between two of them (either way) runs through this adapter instead of the bare default model.")

    @model_validator(mode="after")
    def _check_name(self) -> "AdapterConfig":
        from app.translate import languages

        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be 1-128 characters of letters, digits and ._:/@-")
        self.languages = [languages.normalize(code) for code in self.languages]
        return self

    def covers(self, source: str, target: str) -> bool:
        return source in self.languages and target in self.languages and source != target


class ModelConfig(_Strict):
    """One served model: where its weights are, which engine runs it and how it is placed."""

    name: str = Field(description="The id clients send as `model`.")
    source: str = Field(description="A local model folder or a Hugging Face model id.")
    engine: Literal["vllm", "transformers"] = Field("vllm", description="Inference engine.")
    device: Literal["cuda", "cpu"] = Field("cuda", description="Where the engine runs.")
    tensor_parallel_size: int = Field(
        1, ge=1, le=8, description="GPUs per replica, all on one node (one replica per GPU or per pair...)."
    )
    max_model_len: int | None = Field(None, ge=16, description="Context length; the model's own if unset.")
    dtype: str = Field("auto", description="Weights and activations dtype (auto, bfloat16, float16, float32).")
    prompt_style: PromptStyle = Field(
        "chat", description="chat: instruct models with a chat template; few_shot: base models; "
        "plain: a bare `Source: text / Target:` pair, for models tuned on it."
    )
    stream_chunk_rate: float = Field(
        2000.0, gt=0,
        description="Chunks per second one replica streams, summed over its requests. Under load each chunk "
        "carries several tokens (the first token always goes out at once), which keeps Ray's per-item cost "
        "from capping throughput.",
    )
    workload: Literal["online", "offline"] = Field(
        "online", description="Which of vLLM's per-device batch defaults apply (max_num_seqs, max_num_batched_tokens): "
        "online = those of `vllm serve` (1024 sequences, 8192 tokens a step on an H100), offline = those of "
        "`vllm.LLM` (1024, 16384); the batch job sets offline. engine_args override both.",
    )
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="Extra engine keyword arguments (vLLM AsyncEngineArgs fields)."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables for the replica.")
    adapters: list[AdapterConfig] = Field(
        default_factory=list, description="LoRA adapters served on this model's replicas (vLLM LoRA, or peft).")
    deployment: ModelDeploymentOptions = Field(default_factory=ModelDeploymentOptions)

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be 1-128 characters of letters, digits and ._:/@-")
        if self.device == "cpu" and self.tensor_parallel_size != 1:
            raise ValueError("tensor_parallel_size > 1 needs device: cuda")
        clash = {"model", "tensor_parallel_size", "max_model_len", "dtype"} & self.engine_args.keys()
        if clash:
            raise ValueError(f"engine_args must not repeat top-level fields: {sorted(clash)}")
        return self

    @property
    def deployment_name(self) -> str:
        return "LLM:" + self.name


class LimitsConfig(_Strict):
    max_request_bytes: int = Field(1 << 20, ge=1024, description="Largest accepted JSON request body.")
    max_file_bytes: int = Field(10 << 20, ge=1024, description="Largest accepted upload for file translation.")
    max_file_units: int = Field(5000, ge=1, description="Most paragraphs/cues one uploaded file may hold.")
    max_tokens_cap: int | None = Field(None, ge=1, description="Upper bound on max_tokens for any request.")
    max_segments: int = Field(2000, ge=1, description="Most segments one translation request may be split into.")
    request_timeout_s: float | None = Field(
        600.0, gt=0, description="Time to the first byte of an answer before the router gives up with 504 "
        "(keep it below http_options.request_timeout_s, whose 408 is plain text).",
    )
    translation_memory_entries: int = Field(
        100_000, ge=0, description="Translated segments each router replica remembers (0: no memory)."
    )
    body_read_timeout_s: float = Field(
        60.0, gt=0, description="Time a client has to send its whole request body (a chunked body that never "
        "ends, a Content-Length larger than what arrives) before the router answers 408 and closes the "
        "connection. 60 s lets a 10 MiB upload through at 1.4 Mbit/s.",
    )
    max_request_duration_s: float = Field(
        900.0, gt=0, description="Longest any request lives, body and streamed answer included, whatever its "
        "`x-request-timeout-seconds` header asks Serve for: past it the router cancels the request (504 before "
        "the answer started, an error event ending a stream after). Keep http_options.request_timeout_s above it.",
    )

    @model_validator(mode="after")
    def _deadlines(self) -> "LimitsConfig":
        if self.request_timeout_s is not None and self.request_timeout_s > self.max_request_duration_s:
            raise ValueError(f"request_timeout_s ({self.request_timeout_s:g}) exceeds max_request_duration_s "
                             f"({self.max_request_duration_s:g})")
        return self


class RouterOptions(DeploymentOptions):
    """The Router is async and cheap per request, so its own limits stay high and unbounded: requests
    must reach the model's bounded queue, whose overflow is fanyi's OpenAI-shaped 503. A full Router
    queue is answered by Serve's proxy in plain text instead. Defaults on the class (not only in
    AppConfig's default_factory) so that a `router:` block setting only num_cpus keeps them."""

    max_ongoing_requests: int = Field(512, ge=1, description="Requests one router replica works on at once.")
    max_queued_requests: int = Field(
        -1, ge=-1, description="Requests waiting for a router replica (-1: unbounded; a full queue is Serve's "
        "plain-text 503, not fanyi's)."
    )


class PostProcessorOptions(DeploymentOptions):
    """Cleanup is pure CPU work of microseconds per segment: same reasoning as RouterOptions."""

    num_cpus: float = Field(0.25, ge=0, description="CPUs reserved per replica.")
    max_ongoing_requests: int = Field(256, ge=1, description="Requests one replica works on at once.")
    max_queued_requests: int = Field(-1, ge=-1, description="Requests waiting for a replica (-1: unbounded).")


class AppConfig(_Strict):
    """The whole application: models, the router in front of them and request limits."""

    models: list[ModelConfig] = Field(min_length=1, description="Served models; the first is the default.")
    # One replica each unless the Serve config's `deployments:` section scales them (see builder).
    router: RouterOptions = Field(default_factory=RouterOptions)
    postprocessor: PostProcessorOptions = Field(default_factory=PostProcessorOptions)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> "AppConfig":
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
