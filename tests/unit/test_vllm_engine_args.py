"""How the service turns a ModelConfig into vLLM engine arguments (no engine is started here)."""

import pytest

from app.config import ModelConfig
from deployments.vllm_engine import _engine_kwargs, usage_context


@pytest.mark.parametrize("workload,expected", [("online", "OPENAI_API_SERVER"), ("offline", "LLM_CLASS")])
def test_workload_picks_a_usage_context_in_vllms_batch_tables(workload, expected):
    from vllm import AsyncEngineArgs

    context = usage_context(workload)
    assert context.name == expected
    # The context must be a key of vLLM's per-device tables; any other falls back to 128 sequences.
    batched_tokens, seqs = AsyncEngineArgs.get_batch_defaults(world_size=1)
    assert context in batched_tokens and context in seqs


def test_workload_defaults_to_online_and_rejects_other_values():
    assert ModelConfig(name="m", source="models/m").workload == "online"
    with pytest.raises(ValueError, match="workload"):
        ModelConfig(name="m", source="models/m", workload="batch")


def test_engine_args_override_and_unknown_ones_are_refused():
    config = ModelConfig(name="m", source="models/m", device="cpu", engine_args={"max_num_seqs": 64})
    assert _engine_kwargs(config)["max_num_seqs"] == 64
    with pytest.raises(ValueError, match="unknown vLLM engine_args"):
        _engine_kwargs(ModelConfig(name="m", source="models/m", engine_args={"max_num_seq": 64}))


def test_cpu_keeps_one_lora_slot_empty_for_base_model_requests(tmp_path):
    """vLLM-CPU gives a request without an adapter (slot id -1) the last slot's weights: that slot must
    never hold an adapter, so the CPU engine gets one more slot than it has adapters."""
    import json

    from app.config import AdapterConfig

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps({"r": 16}))
    adapters = [AdapterConfig(name=n, path=str(tmp_path / n)) for n in ("a", "b")]
    cpu = _engine_kwargs(ModelConfig(name="m", source="models/m", device="cpu", adapters=adapters))
    assert (cpu["max_loras"], cpu["max_cpu_loras"], cpu["max_lora_rank"]) == (3, 3, 16)
    gpu = _engine_kwargs(ModelConfig(name="m", source="models/m", device="cuda", adapters=adapters))
    assert (gpu["max_loras"], gpu["max_cpu_loras"]) == (2, 2)
