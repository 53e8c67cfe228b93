"""The translation path (app.translate.translator.Translator) with the real PostProcessor and a stand-in engine:
every piece resolves whatever it raises, the memory's conditions, planning off the event loop.
The real engine path is covered by tests/integration/test_hardening_translate.py."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time

import pytest

from app.generation import GenerateChunk
from app.inprocess import LocalHandle, NullMetrics
from app.translate.memory import TranslationMemory
from app.translate.translator import Context, Delta, Translator, UnitDone, Usage
from deployments.postprocess import PostProcessor

# Each test finishes in well under a second; on the code before the fix they hung for good.
PROMPT_S = 5.0


class Engine:
    """Answers each piece with `answer(prompt text)`; `hold` makes it wait until released."""

    def __init__(self, answer=lambda text: "Hallo Welt.", hold: asyncio.Event | None = None):
        self.answer, self.hold, self.calls = answer, hold, 0

    async def complete(self, req):
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()
        text = req.messages[-1]["content"].rsplit("\n\n", 1)[-1] if req.messages else req.prompt
        return GenerateChunk(self.answer(text), 10, 5, "stop")


def _translator(memory: int = 100, metrics=None, max_pieces: int = 2000, plan_threads: int = 2) -> Translator:
    return Translator(
        TranslationMemory(memory),
        LocalHandle(PostProcessor()),
        metrics or NullMetrics(),
        max_pieces=max_pieces,
        plan_threads=plan_threads,
    )


def _ctx(engine: Engine, temperature: float = 0.0, caller: str = "anonymous", rid: str = "t") -> Context:
    return Context(
        request_id=rid,
        model="m",
        prompt_style="chat",
        source="en",
        target="de",
        glossary=None,
        temperature=temperature,
        handle=LocalHandle(engine),
        caller=caller,
    )


async def _events(translator: Translator, units: list[tuple[str, str]], ctx: Context) -> tuple[list, Usage]:
    pieces = translator.plan(units)
    usage = Usage()
    return [event async for event in translator.run(pieces, len(units), ctx, usage)], usage


def _texts(events) -> list[str]:
    return [e.text for e in events if isinstance(e, UnitDone)]


def test_a_lone_surrogate_is_translated_not_left_hanging():
    # Before: its memory key raised before the piece's try, and the piece's future was never resolved.
    async def main():
        return await asyncio.wait_for(
            _events(_translator(), [("hello \udfff world", "plain")], _ctx(Engine())), PROMPT_S
        )

    events, usage = asyncio.run(main())
    assert _texts(events) == ["Hallo Welt."] and usage.completion_tokens == 5


def test_any_exception_in_a_piece_reaches_the_consumer_in_document_order():
    engine = Engine()

    class Broken(Engine):
        async def complete(self, req):
            if "Second" in req.messages[-1]["content"]:
                raise RuntimeError("engine broke")
            return await engine.complete(req)

    translator = _translator()
    units = [("First one.", "plain"), ("Second one.", "plain"), ("Third one.", "plain")]
    seen = []

    async def main():
        async for event in translator.run(translator.plan(units), 3, _ctx(Broken()), Usage()):
            seen.append(event)

    with pytest.raises(RuntimeError, match="engine broke"):
        asyncio.run(asyncio.wait_for(main(), PROMPT_S))
    assert [e.unit for e in seen] == [0, 0]  # the first unit, complete; nothing after the failing one


def test_an_exception_before_the_model_call_resolves_the_piece_too():
    # A piece that raised outside the original's try (memory key, metrics) hung its request forever.
    class Metrics(NullMetrics):
        def observe_memory(self, model, hit):
            raise RuntimeError("metrics broke")

    translator = _translator(metrics=Metrics())

    async def main():
        return await _events(translator, [("Hello there.", "plain")], _ctx(Engine()))

    with pytest.raises(RuntimeError, match="metrics broke"):
        asyncio.run(asyncio.wait_for(main(), PROMPT_S))


def test_a_consumer_that_stops_early_cancels_the_pieces_and_leaves_nothing_unretrieved(caplog):
    hold = asyncio.Event()  # the second piece never answers; the third fails at once
    failing = Engine()

    class Mixed(Engine):
        async def complete(self, req):
            content = req.messages[-1]["content"]
            if "Second" in content:
                await hold.wait()
            if "Third" in content:
                raise RuntimeError("third failed")
            return await failing.complete(req)

    translator = _translator()
    units = [("First one.", "plain"), ("Second one.", "plain"), ("Third one.", "plain")]

    async def main():
        before = asyncio.all_tasks()
        events = translator.run(translator.plan(units), 3, _ctx(Mixed()), Usage())
        first = await events.__anext__()
        await asyncio.sleep(0.05)  # the third piece has failed by now, unawaited
        await events.aclose()
        await asyncio.sleep(0.05)
        pending = asyncio.all_tasks() - before
        return first, pending

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        first, pending = asyncio.run(asyncio.wait_for(main(), PROMPT_S))
        gc.collect()
    assert first == Delta(0, "Hallo Welt.") and pending == set()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_a_sampled_translation_is_not_served_to_a_greedy_request():
    translator = _translator()
    garbage = Engine(lambda text: "Zufall " * 40)  # a temperature 2 answer, flagged length_ratio
    engine = Engine()

    async def main():
        await _events(translator, [("Good morning.", "plain")], _ctx(garbage, temperature=2.0))
        return await _events(translator, [("Good morning.", "plain")], _ctx(engine))

    events, usage = asyncio.run(main())
    assert _texts(events) == ["Hallo Welt."] and usage.cached == 0 and engine.calls == 1


def test_memory_serves_a_repeat_only_under_the_same_format_and_caller():
    translator, engine = _translator(), Engine()

    async def main():
        results = []
        for fmt, caller in (("plain", "a"), ("plain", "a"), ("html", "a"), ("plain", "b")):
            results.append(await _events(translator, [("Good morning.", fmt)], _ctx(engine, caller=caller)))
        return results

    cached = [usage.cached for _, usage in asyncio.run(main())]
    assert cached == [0, 1, 0, 0] and engine.calls == 3


def test_html_units_get_model_markup_escaped_and_keep_their_own_tags():
    engine = Engine(lambda text: text.replace("Hello", "<img src=x onerror=alert(1)>"))

    async def main():
        return await _events(_translator(), [("Hello <b>dear</b> friend & co.", "html")], _ctx(engine))

    events, _ = asyncio.run(main())
    assert _texts(events) == ["&lt;img src=x onerror=alert(1)&gt; <b>dear</b> friend &amp; co."]


def test_large_plans_run_off_the_event_loop():
    translator = _translator(max_pieces=10**6)
    units = [("A sentence. " * 20, "plain")] * 30000  # most of a second of planning, on a pool thread
    gaps = []

    async def ticker(stop: asyncio.Event):
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def main():
        stop = asyncio.Event()
        tick = asyncio.ensure_future(ticker(stop))
        await asyncio.sleep(0.05)  # ticking before the plan starts
        started = time.perf_counter()
        pieces = await translator.prepare(units)
        took = time.perf_counter() - started
        stop.set()
        await tick
        return pieces, took

    pieces, took = asyncio.run(main())
    assert len([p for p in pieces if p.masked]) == 30000
    assert took > 0.3, "planning too fast to show anything: grow the input"
    # On the loop, one gap would span the whole plan; the bound is loose for a busy 2-core machine.
    assert max(gaps) < took / 2, f"the event loop stalled {max(gaps):.3f} s while planning took {took:.3f} s"


def test_cancelled_planning_leaves_the_queue_and_stops_running_work():
    translator = _translator(max_pieces=10**6, plan_threads=1)  # the second plan queues behind the first
    big = [("A sentence. " * 20, "plain")] * 40000  # 4 s or more of work if nothing stopped it
    ran = threading.Event()
    plan = translator.plan

    def watched(units, param, stop):
        if units is not big:
            ran.set()
        return plan(units, param, stop)

    translator.plan = watched

    async def main():
        running = asyncio.ensure_future(translator.prepare(big))
        queued = asyncio.ensure_future(translator.prepare([("Other text. " * 200, "plain")]))
        await asyncio.sleep(0.2)
        running.cancel()
        queued.cancel()
        started = time.perf_counter()
        await translator.pool.run(time.sleep, 0)  # the thread is free again soon after the cancel
        return time.perf_counter() - started, running.cancelled(), queued.cancelled()

    freed, *cancelled = asyncio.run(main())
    assert cancelled == [True, True] and not ran.is_set()  # the queued plan never started
    assert freed < 2.0, f"the cancelled plan held its thread {freed:.2f} s"
