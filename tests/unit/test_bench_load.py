"""app.bench.load and the app.bench CLI against a real local streaming server (tests/unit/sse_server.py):
SSE framing, request bodies, error types, closed-loop and Poisson levels."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from app.bench import cli as bench
from app.bench.load import BodySpec, Level, SSEParser, endpoint, make_client, output_of, random_prompts, run_level, send
from tests.unit import sse_server


def test_sse_events_split_across_reads_and_merged_in_one():
    p = SSEParser()
    assert p.feed(b'data: {"a"') == []
    assert p.feed(b": 1}\n") == []
    assert p.feed(b'\ndata: {"b": 2}\n\ndata: [DONE]\n\n') == ['{"a": 1}', '{"b": 2}', "[DONE]"]
    assert p.feed(b"") == []


def test_sse_crlf_comments_and_multiline_data():
    p = SSEParser()
    assert p.feed(b": keep-alive\r\n\r\nevent: x\r\ndata: 1\r") == []  # a comment-only event has no data
    assert p.feed(b"\ndata: 2\r\n\r\ndata:3\n\n") == ["1\n2", "3"]


def test_output_chunks_per_api():
    assert output_of("chat", {"choices": [{"delta": {"content": "hi"}}]})
    assert not output_of("chat", {"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    assert not output_of("chat", {"choices": [], "usage": {"completion_tokens": 3}})
    assert output_of("completions", {"choices": [{"text": " a"}]})
    assert not output_of("completions", {"choices": [{"text": "", "finish_reason": "stop"}]})
    assert output_of("translate", {"type": "delta", "segment": 0, "text": "Hi"})
    assert not output_of("translate", {"type": "segment", "index": 0, "text": "Hi", "flags": []})


def test_bodies_per_api():
    spec = BodySpec(
        api="completions",
        model="m",
        max_tokens=8,
        ignore_eos=True,
        temperature=0.0,
        target_lang="en",
        source_lang=None,
        extra={"top_p": 0.9},
    )
    assert spec.build([5, 6]) == {
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 8,
        "temperature": 0.0,
        "prompt": [5, 6],
        "ignore_eos": True,
        "model": "m",
        "top_p": 0.9,
    }
    spec.api, spec.ignore_eos, spec.extra = "chat", False, {}
    assert spec.build("hi")["messages"] == [{"role": "user", "content": "hi"}] and "ignore_eos" not in spec.build("x")
    spec.api, spec.source_lang = "translate", "zh"
    assert spec.build("你好") == {
        "text": "你好",
        "target_lang": "en",
        "stream": True,
        "source_lang": "zh",
        "model": "m",
    }


def test_random_prompts_are_seeded_and_sized():
    ids = list(itertools.islice(random_prompts("completions", 16, 3, (10, 20))(), 3))
    assert ids == list(itertools.islice(random_prompts("completions", 16, 3, (10, 20))(), 3))
    assert all(len(p) == 16 and all(10 <= t < 20 for t in p) for p in ids)
    words = next(random_prompts("chat", 16, 3, (10, 20))())
    assert isinstance(words, str) and len(words.split()) == 16


async def _with_server(fn, delay: float = 0.0):
    server = await sse_server.start(0, delay)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_client("k", 8, timeout=0.5) as session:
            return await fn(session, f"http://127.0.0.1:{port}/v1/")
    finally:
        server.close()


def body(model: str = "m", n: int = 5) -> dict:
    return {"model": model, "max_tokens": n, "stream": True}


def test_send_records_chunks_usage_and_error_types():
    async def go(session, base):
        return {
            m: await send(session, base + "chat/completions", "chat", body(m))
            for m in ("m", "missing", "stream-error", "truncated", "stall", "silent", "nothing")
        }

    recs = asyncio.run(_with_server(go, delay=0.002))
    ok = recs["m"]
    assert ok.error is None and ok.output_tokens == 5 and ok.prompt_tokens == 3 and len(ok.chunk_times) == 5
    assert ok.start < ok.chunk_times[0] <= ok.chunk_times[-1] <= ok.end
    assert recs["missing"].error == "http_404:model_not_found"
    assert recs["stream-error"].error == "stream:internal_error"
    assert recs["truncated"].error == "connection:ClientPayloadError"  # the chunked body ended early
    assert recs["stall"].error == "timeout"
    assert recs["silent"].ok and recs["silent"].tokens() == 5 and recs["silent"].chunk_times == []
    assert recs["nothing"].error == "no_output"


def test_refused_connection_is_a_connection_error():
    async def go():
        async with make_client(None, 1, timeout=2) as session:
            return await send(session, "http://127.0.0.1:9/v1/completions", "completions", body())

    assert asyncio.run(go()).error.startswith("connection:")


def test_closed_loop_keeps_concurrency_requests_in_flight():
    async def go(session, base):
        bodies = enumerate([body(n=10)] * 8)
        return await run_level(session, base + "completions", "completions", bodies, Level(4, 8, None, None))

    started = time.perf_counter()
    recs = asyncio.run(_with_server(go, delay=0.01))
    assert len(recs) == 8 and all(r.ok and r.tokens() == 10 for r in recs)
    assert sorted(r.prompt_index for r in recs) == list(range(8))
    # 8 requests of ~0.1 s, 4 at a time: two waves, not eight
    assert sum(1 for r in recs if r.start < min(x.end for x in recs)) == 4
    assert time.perf_counter() - started < 0.8


def test_poisson_rate_spaces_arrivals_and_duration_bounds_a_level():
    async def go(session, base):
        bodies = enumerate(itertools.repeat(body(n=1)))
        return await run_level(session, base + "completions", "completions", bodies, Level(16, None, 0.6, 20.0), seed=1)

    recs = asyncio.run(_with_server(go))
    assert all(r.ok for r in recs)
    assert 3 <= len(recs) <= 30  # ~12 arrivals expected in 0.6 s at 20/s
    starts = sorted(r.start for r in recs)
    assert starts[-1] - starts[0] < 0.6 and max(b - a for a, b in zip(starts, starts[1:])) > 0.005


def test_cli_sweeps_systems_and_levels():
    async def go():
        server = await sse_server.start(0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        cfg, _, _ = bench.parse_args(
            [
                "--system",
                f"a={url}",
                "--system",
                url,
                "--api",
                "chat",
                "--concurrency",
                "1,3",
                "--requests",
                "6",
                "--warmup",
                "2",
                "--random-input-len",
                "4",
                "--output-len",
                "7",
                "--api-key",
                "secret",
            ]
        )
        try:
            return cfg, await bench.run(cfg, progress=False, rows=rows)
        finally:
            server.close()

    rows: list[dict] = []
    cfg, levels = asyncio.run(go())
    unnamed = cfg.systems[1].name
    assert unnamed.startswith("127.0.0.1:")  # a bare URL names itself by host:port
    assert [(s.system, s.concurrency) for s in levels] == [("a", 1), ("a", 3), (unnamed, 1), (unnamed, 3)]
    assert all(s.completed == 6 and s.output_tokens == 42 and not s.errors for s in levels)
    assert "secret" not in json.dumps(cfg.model_dump(mode="json"))
    # warm-up takes prompts 0-1, then each level the next six; the second system starts over
    assert len(rows) == 24 and sorted(r["prompt_index"] for r in rows[:6]) == list(range(2, 8))
    assert sorted(r["prompt_index"] for r in rows[12:18]) == list(range(2, 8))


@pytest.mark.parametrize(
    "argv",
    [
        ["--system", "a=http://x/v1"],  # no prompt source
        ["--system", "a=http://x/v1", "--random-input-len", "4", "--prompts-file", "f"],  # two
        ["--system", "a=http://x/v1", "--random-input-len", "4", "--concurrency", "0"],
        ["--system", "a=http://x/v1", "--random-input-len", "4", "--api", "translate", "--output-len", "9"],
    ],
)
def test_cli_rejects_inconsistent_settings(argv, capsys):
    assert bench.main(argv) == 2
    assert "app.bench:" in capsys.readouterr().err


def test_endpoints_keep_the_base_urls_path():
    assert endpoint("http://h:1/v1", "chat") == "http://h:1/v1/chat/completions"
    assert endpoint("http://h:1/proxy/v1/", "translate") == "http://h:1/proxy/v1/translate"
