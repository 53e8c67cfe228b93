"""The load side of `app.bench`: request bodies per API, prompt sources, one streamed request with a
timestamp per network read, and a load level (closed loop at a concurrency, or Poisson arrivals).

Everything runs on one asyncio loop with one aiohttp session per system (httpx was tried first: its
connection pool scans every connection on each read, which saturated a core at 256 streams). The
per-chunk work is kept to a `perf_counter()`, a split on blank lines and one `json.loads` of a small
payload, so one core drives hundreds of concurrent streams.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from app.bench.metrics import RequestRecord, classify_http, classify_stream_error

Api = Literal["chat", "completions", "translate"]
# Relative to a system's base URL, which ends in /v1 (OpenAI's convention) after any path prefix.
PATHS: dict[str, str] = {"chat": "chat/completions", "completions": "completions", "translate": "translate"}


def endpoint(base_url: str, api: Api) -> str:
    return base_url.rstrip("/") + "/" + PATHS[api]


# Short common English words, each one token in most BPE vocabularies: random chat/translate prompts of
# about the asked length without a tokenizer on the client.
WORDS = (
    "the of and to in is for on that with as at by from be this are was have not or an it but "
    "they all new one more time year can out will up other its about which when there their has "
    "first after some people would over two also so any into than most no just like what only "
    "how many may been day these way who made could world back work life good long very well"
).split()


class SSEParser:
    """Incremental server-sent-events parser: feed raw bytes as they arrive, get the `data` payloads
    of every complete event. Events may be split across reads or several may arrive in one."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[str]:
        buf = self._buf + chunk
        if b"\r" in buf:  # CRLF framing; a lone trailing \r waits for its \n in the next read
            buf = buf.replace(b"\r\n", b"\n")
        *events, self._buf = buf.split(b"\n\n")
        out = []
        for event in events:
            data = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
            if data:
                out.append(b"\n".join(data).decode())
        return out


def output_of(api: Api, payload: dict) -> bool:
    """Whether a stream payload carries generated text (what TTFT and ITL are measured on)."""
    if api == "translate":
        return payload.get("type") == "delta" and bool(payload.get("text"))
    choices = payload.get("choices")
    if not choices:
        return False
    if api == "chat":
        delta = choices[0].get("delta") or {}
        return bool(delta.get("content") or delta.get("reasoning_content"))
    return bool(choices[0].get("text"))


@dataclass
class BodySpec:
    """How each request body is built; the prompt varies per request."""

    api: Api
    model: str | None
    max_tokens: int
    ignore_eos: bool
    temperature: float
    target_lang: str
    source_lang: str | None
    extra: dict[str, Any]

    def build(self, prompt: str | list[int]) -> dict[str, Any]:
        if self.api == "translate":
            body: dict[str, Any] = {"text": prompt, "target_lang": self.target_lang, "stream": True}
            if self.source_lang:
                body["source_lang"] = self.source_lang
        else:
            body = {
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
            }
            if self.api == "chat":
                body["messages"] = [{"role": "user", "content": prompt}]
            else:
                body["prompt"] = prompt
            if self.ignore_eos:
                body["ignore_eos"] = True  # vLLM's extension: exactly max_tokens tokens
        if self.model:
            body["model"] = self.model
        return {**body, **self.extra}


def file_prompts(lines: list[str]) -> Callable[[], Iterator[str]]:
    """Sentences from a file in order, cycling. A fresh iterator per system, so every system gets the
    same prompts; consecutive levels get different sentences (no translation-memory hits)."""

    def start() -> Iterator[str]:
        while True:
            yield from lines

    return start


def random_prompts(api: Api, input_len: int, seed: int, id_range: tuple[int, int]) -> Callable[[], Iterator]:
    """Random prompts of `input_len` tokens: token ids for completions (sent as `prompt: [ids]`),
    random words otherwise. Seeded per system so every system gets the same prompts."""

    def start() -> Iterator[str | list[int]]:
        rng = random.Random(seed)
        while True:
            if api == "completions":
                yield [rng.randrange(*id_range) for _ in range(input_len)]
            else:
                yield " ".join(rng.choice(WORDS) for _ in range(input_len))

    return start


async def send(session: aiohttp.ClientSession, url: str, api: Api, body: dict, index: int = -1) -> RequestRecord:
    """One streamed request; never raises for request failures, it records their type instead."""
    rec = RequestRecord(start=time.perf_counter(), prompt_index=index)
    done = False
    try:
        async with session.post(url, json=body) as resp:
            if resp.status != 200:
                raw = await resp.read()
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                rec.error = classify_http(resp.status, parsed)
            else:
                parser = SSEParser()
                async for chunk in resp.content.iter_any():  # whatever arrived, one read at a time
                    now = time.perf_counter()
                    for data in parser.feed(chunk):
                        if data == "[DONE]":
                            done = True
                            continue
                        payload = json.loads(data)
                        if "error" in payload:
                            rec.error = classify_stream_error(payload)
                            continue
                        if output_of(api, payload):
                            rec.chunk_times.append(now)
                        usage = payload.get("usage")
                        if usage:
                            rec.output_tokens = usage.get("completion_tokens")
                            rec.prompt_tokens = usage.get("prompt_tokens")
    except asyncio.TimeoutError:  # aiohttp's read and connect timeouts derive from it
        rec.error = "timeout"
    except aiohttp.ClientError as exc:
        rec.error = f"connection:{type(exc).__name__}"
    except ValueError:
        rec.error = "bad_stream"  # a payload that is not JSON
    rec.end = time.perf_counter()
    if rec.error is None and not done:
        rec.error = "incomplete_stream"
    elif rec.error is None and not rec.chunk_times and not rec.tokens():
        # Only nothing at all is an error: text with 0 tokens is a translation-memory hit, tokens
        # without text (special tokens a detokenizer skips) are what the server was asked for.
        rec.error = "no_output"
    return rec


@dataclass
class Level:
    concurrency: int
    requests: int | None  # a fixed number of requests, or
    duration: float | None  # keep sending for this many seconds (in-flight requests then finish)
    rate: float | None  # Poisson arrivals at this many requests/s, at most `concurrency` in flight


async def run_level(
    session: aiohttp.ClientSession,
    url: str,
    api: Api,
    bodies: Iterator[tuple[int, dict]],
    level: Level,
    seed: int = 0,
    on_done: Callable[[RequestRecord], None] | None = None,
) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    deadline = time.perf_counter() + level.duration if level.duration else None
    remaining = [level.requests if level.requests is not None else -1]  # -1: until the deadline

    def take() -> tuple[int, dict] | None:  # (prompt index, body)
        if remaining[0] == 0 or (deadline is not None and time.perf_counter() >= deadline):
            return None
        remaining[0] -= 1
        return next(bodies)

    async def one(item: tuple[int, dict]) -> None:
        rec = await send(session, url, api, item[1], item[0])
        records.append(rec)
        if on_done:
            on_done(rec)

    if level.rate is None:  # closed loop: each worker sends its next request when the last one ends

        async def worker() -> None:
            while (item := take()) is not None:
                await one(item)

        await asyncio.gather(*(worker() for _ in range(level.concurrency)))
        return records

    gate = asyncio.Semaphore(level.concurrency)
    rng = random.Random(seed)

    async def gated(item: tuple[int, dict]) -> None:
        async with gate:
            await one(item)

    tasks = []
    next_at = time.perf_counter()
    while (item := take()) is not None:
        tasks.append(asyncio.create_task(gated(item)))
        next_at += rng.expovariate(level.rate)
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.gather(*tasks)
    return records


def make_client(api_key: str | None, max_concurrency: int, timeout: float) -> aiohttp.ClientSession:
    """One session per system, with a connection for every concurrent stream. `timeout` bounds the wait
    for each read (a stalled stream), not a whole request, which may legitimately stream for minutes."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    connector = aiohttp.TCPConnector(limit=max_concurrency + 8, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        headers=headers,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(timeout, 30.0), sock_read=timeout),
    )
