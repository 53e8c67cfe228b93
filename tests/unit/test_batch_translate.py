"""Row outcomes of the batch job's translation core (real Translator, real PostProcessor; only the
engine is a stand-in, because engine failures on demand cannot be had from a real one here)."""

from __future__ import annotations

import asyncio

from app.batch.shards import Row
from app.batch.translate import JobSettings, ShardTranslator, fixed_length
from app.errors import ContextLengthExceeded, EngineUnavailable
from app.generation import GenerateChunk, GenerateRequest
from app.inprocess import LocalHandle
from deployments.postprocess import PostProcessor


class FlakyEngine:
    """Fails the first `failures[text]` calls for a source text (matched in the prompt), then answers."""

    def __init__(self, failures: dict[str, int | str]):
        self.failures = dict(failures)
        self.calls: list[GenerateRequest] = []

    async def complete(self, req: GenerateRequest) -> GenerateChunk:
        self.calls.append(req)
        content = req.messages[-1]["content"]
        for text, left in self.failures.items():
            if text in content:
                if left == "too_long":
                    raise ContextLengthExceeded("too long")
                if left > 0:
                    self.failures[text] = left - 1
                    raise EngineUnavailable("engine hiccup")
        return GenerateChunk("translated", 10, 3, "stop")


def _run(engine, rows, retries=2):
    settings = JobSettings(model="m", prompt_style="chat", source="zh", target="en", retries=retries)
    translator = ShardTranslator(settings, LocalHandle(engine), LocalHandle(PostProcessor()))
    return asyncio.run(translator.translate("s", rows))


def test_retries_then_error_rows_with_reasons():
    engine = FlakyEngine({"甲": 1, "乙": 99, "丙": "too_long"})
    rows = [
        Row(id="a", number=0, text="甲"),
        Row(id="b", number=1, text="乙"),
        Row(id="c", number=2, text="丙"),
        Row(id="d", number=3, error="invalid_encoding: x"),
        Row(id="e", number=4, text="丁"),
    ]
    result = _run(engine, rows)
    assert result.translations[0] == result.translations[4] == "translated"
    assert result.translations[1:4] == [None, None, None]
    reasons = {e["id"]: e["reason"] for e in result.errors}
    assert reasons["b"] == "engine_unavailable: failed after 3 attempts"
    assert reasons["c"].startswith("context_length_exceeded") and reasons["d"] == "invalid_encoding: x"
    prompts = [r.messages[-1]["content"] for r in engine.calls]
    assert sum("丙" in p for p in prompts) == 1  # a row-level error is not retried
    assert sum("乙" in p for p in prompts) == 3
    assert result.stats["rows"] == 5 and result.stats["errors"] == 3 and result.stats["output_tokens"] == 6


def test_fixed_length_rewrites_requests_for_benchmarks():
    engine = FlakyEngine({})
    settings = JobSettings(model="m", prompt_style="few_shot", source="zh", target="en")
    translator = ShardTranslator(settings, LocalHandle(engine, fixed_length(7)), LocalHandle(PostProcessor()))
    asyncio.run(translator.translate("s", [Row(id="1", number=0, text="你好")]))
    req = engine.calls[0]
    assert (req.max_tokens, req.ignore_eos, req.stop) == (7, True, [])


def test_a_failed_multi_piece_row_leaves_no_unretrieved_exceptions():
    import gc

    engine = FlakyEngine({"甲": 99, "乙": 99})
    text = "甲" * 300 + "。" + "乙" * 300 + "。"  # two pieces (PIECE_CHARS), both failing every attempt
    settings = JobSettings(model="m", prompt_style="chat", source="zh", target="en", retries=0)
    logged = []

    async def run():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: logged.append(context["message"]))
        translator = ShardTranslator(settings, LocalHandle(engine), LocalHandle(PostProcessor()))
        result = await translator.translate("s", [Row(id="a", number=0, text=text)])
        await asyncio.sleep(0.05)  # let the abandoned piece finish failing
        gc.collect()  # an unretrieved exception is reported when its future is collected
        return result

    result = asyncio.run(run())
    assert len(engine.calls) == 2 and result.errors[0]["reason"].startswith("engine_unavailable")
    assert logged == []
