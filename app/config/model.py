"""One served model (`args.models[i]`): weights, engine, placement, and the LoRA adapters it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from app.config.base import NAME, Strict
from app.config.deployment import ModelDeploymentOptions

PromptStyle = Literal["chat", "few_shot", "plain"]


class AdapterConfig(Strict):
    """A LoRA adapter served on its base model's replicas, called by its own name as `model`."""

    name: str = Field(description="The id clients send as `model` to use this adapter.")
    path: str = Field(description="A PEFT adapter folder (adapter_config.json + weights), e.g. from app.finetune.")
    prompt_style: PromptStyle | None = Field(
        None,
        description="The prompt format the adapter was trained on (app.finetune prints it); default: the base model's.",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="Languages the adapter was tuned on, e.g. [zh, en]: a translation that names no model and "
        "goes between two of them (either way) runs through this adapter instead of the bare default model.",
    )

    @model_validator(mode="after")
    def _check_name(self) -> AdapterConfig:
        from app.translate import languages

        if not NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be 1-128 characters of letters, digits and ._:/@-")
        self.languages = [languages.normalize(code) for code in self.languages]
        return self

    def covers(self, source: str, target: str) -> bool:
        return source in self.languages and target in self.languages and source != target


class ModelConfig(Strict):
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
        "chat",
        description="chat: instruct models with a chat template; few_shot: base models; "
        "plain: a bare `Source: text / Target:` pair, for models tuned on it.",
    )
    stream_chunk_rate: float = Field(
        2000.0,
        gt=0,
        description="Chunks per second one replica streams, summed over its requests. Under load each chunk "
        "carries several tokens (the first token always goes out at once), which keeps Ray's per-item cost "
        "from capping throughput.",
    )
    workload: Literal["online", "offline"] = Field(
        "online",
        description="Which of vLLM's per-device batch defaults apply (max_num_seqs, max_num_batched_tokens): "
        "online = those of `vllm serve` (1024 sequences, 8192 tokens a step on an H100), offline = those of "
        "`vllm.LLM` (1024, 16384); the batch job sets offline. engine_args override both.",
    )
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="Extra engine keyword arguments (vLLM AsyncEngineArgs fields)."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables for the replica.")
    adapters: list[AdapterConfig] = Field(
        default_factory=list, description="LoRA adapters served on this model's replicas (vLLM LoRA, or peft)."
    )
    deployment: ModelDeploymentOptions = Field(default_factory=ModelDeploymentOptions)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if not NAME.match(self.name):
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

    def with_paths_from(self, base: Path) -> ModelConfig:
        """This model with its folders made absolute: relative ones are relative to `base`, the folder
        of the config file (or the one `serve run` started in). A source that is no folder there is a
        Hugging Face id and stays as it is; an adapter must be a PEFT folder, else ValueError naming it."""
        adapters = []
        for adapter in self.adapters:
            path = _resolve(adapter.path, base)
            if not (Path(path) / "adapter_config.json").is_file():
                raise ValueError(
                    f"adapters.{adapter.name}.path: no PEFT adapter (adapter_config.json) in "
                    f"{adapter.path!r} (relative paths start at {base})"
                )
            adapters.append(adapter.model_copy(update={"path": path}))
        return self.model_copy(update={"source": _resolve(self.source, base), "adapters": adapters})


def _resolve(path: str, base: Path) -> str:
    found = Path(path).expanduser()
    if not found.is_absolute():
        found = base / found
    return str(found.resolve()) if found.exists() else path
