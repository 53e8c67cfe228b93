"""LLMReplica in this process over the real transformers engine and the tiny model's tokenizer (no
Ray): long prompts are tokenized off the event loop, and client input errors stay client errors."""

import asyncio
import time

import pytest

from app.errors import ContextLengthExceeded, InvalidRequest
from app.generation import GenerateRequest
from deployments.hf_engine import TransformersEngine
from deployments.llm_replica import LLMReplica

MIB = 1 << 20


async def _replica(tiny_model) -> LLMReplica:
    replica = LLMReplica(
        {"name": "tiny", "source": str(tiny_model), "device": "cpu", "engine": "transformers", "max_model_len": 1024},
        TransformersEngine,
    )
    await replica.start()
    return replica


def _small(n: int) -> GenerateRequest:
    return GenerateRequest(request_id=f"small-{n}", prompt="hello", max_tokens=1, temperature=0.0)


def test_a_short_request_is_not_held_by_long_prompts_being_tokenized(tiny_model):
    async def main():
        replica = await _replica(tiny_model)
        await replica.complete(_small(0))  # warm
        # About a second of tokenizer time each here: on the loop, they held everything for seconds.
        prompt = "hello world " * (MIB // 12)
        started = time.perf_counter()  # the short request is sent 50 ms after the long ones
        big = [
            asyncio.ensure_future(replica.complete(GenerateRequest(request_id=f"big-{i}", prompt=prompt)))
            for i in range(3)
        ]
        await asyncio.sleep(0.05)
        result = await replica.complete(_small(1))
        latency = time.perf_counter() - started
        pending = sum(not b.done() for b in big)
        outcomes = await asyncio.gather(*big, return_exceptions=True)
        await replica.close()
        return latency, pending, result, outcomes

    latency, pending, result, outcomes = asyncio.run(main())
    print(f"1-token request sent 50 ms after 3 x 1 MiB prompts: done after {latency * 1000:.0f} ms")
    assert result.completion_tokens == 1
    assert latency < 1.0, f"a 1-token request took {latency:.2f} s behind long prompts"
    assert pending >= 1  # the long prompts were still being tokenized while the short one ran
    assert all(isinstance(o, ContextLengthExceeded) for o in outcomes)  # 1 MiB > 1024 tokens: a 400


def test_client_input_errors_are_400s_not_engine_failures(tiny_model):
    cases = [
        (GenerateRequest(request_id="s", prompt="a", seed=2**64, max_tokens=1), "seed"),
        (GenerateRequest(request_id="u", messages=[{"role": "user", "content": "a\udfff"}], max_tokens=1), "messages"),
        (GenerateRequest(request_id="p", prompt="a\ud800" + "b" * 10000, max_tokens=1), "prompt"),  # threaded path
    ]

    async def main():
        replica = await _replica(tiny_model)
        errors = []
        try:
            for req, _ in cases:
                with pytest.raises(InvalidRequest) as exc:
                    await replica.complete(req)
                errors.append(exc.value)
        finally:
            await replica.close()
        return errors

    for err, (_, param) in zip(asyncio.run(main()), cases):
        assert err.status_code == 400 and err.param == param
