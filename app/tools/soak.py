"""Soak a running fanyi service: many concurrent clients for minutes, mixing good and bad requests.

    python -m app.tools.soak --url http://127.0.0.1:8000 --clients 32 --duration 300 --json soak.json

Each client loops over a weighted mix of streamed and non-streamed chat, /v1/translate, and bad
requests (invalid JSON, unknown model, a prompt beyond the context, out-of-range parameters). A bad
request answered with its expected 4xx and an OpenAI-shaped error body is a success; any 5xx, timeout,
broken stream or other status is an unexpected error. The resident memory of the Ray processes on this
host (the cluster matched by `--ray-match`, else every Ray process) is sampled after a warm-up and at
the end. It prints p50/p99 latency per kind and the counts as JSON; the exit code is 1 when any
unexpected error occurred or memory grew by more than `--max-rss-growth-mb`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel, Field

from app.bench.load import WORDS, endpoint, make_client, send
from app.bench.metrics import classify_http, percentile


class SoakConfig(BaseModel):
    url: str = Field(description="The service's root URL, e.g. http://127.0.0.1:8000")
    clients: int = Field(32, ge=1)
    duration: float = Field(300.0, gt=0, description="Seconds of sending; in-flight requests then finish.")
    warmup: float = Field(10.0, ge=0, description="Seconds of traffic before the memory baseline is taken.")
    model: str | None = Field(None, description="Model id sent (default: the service's default).")
    max_tokens: int = Field(16, ge=1)
    long_prompt_words: int = Field(6000, ge=1, description="Words in the too-long prompt: beyond the context.")
    api_key: str | None = None
    timeout: float = Field(120.0, gt=0, description="Seconds without a byte before a request counts as a timeout.")
    max_rss_growth_mb: float = Field(500.0, ge=0)
    ray_match: str | None = Field(None, description="Only Ray processes whose command line holds this (a temp dir).")
    sample_every: float = Field(10.0, gt=0, description="Seconds between memory samples.")
    seed: int = 0


# kind -> (weight in the mix, HTTP statuses that count as success)
MIX: dict[str, tuple[int, frozenset[int]]] = {
    "chat": (3, frozenset({200})),
    "chat_stream": (3, frozenset({200})),
    "translate": (2, frozenset({200})),
    "bad_json": (1, frozenset({400})),
    "unknown_model": (1, frozenset({404})),
    "too_long": (1, frozenset({400, 413})),  # context_length_exceeded, or the body-size limit first
    "bad_params": (1, frozenset({400})),
}
SENTENCES = ["今天天气很好。", "我们去公园散步吧！", "Good morning, how are you?", "The meeting starts at nine.",
             "请把文件发给我。", "Where is the train station?", "这本书很有意思。", "Thank you for your help."]
BAD_PARAMS = [{"temperature": -1}, {"top_p": 2.5}, {"max_tokens": 0}, {"messages": []}, {"n": "many"}]


@dataclass
class Outcome:
    kind: str
    latency: float  # seconds, request sent -> answer (or stream) complete
    result: str  # "ok", or what went wrong: http_<status>[:code], timeout, stream:..., unshaped_error, ...
    ttft: float | None = None


@dataclass
class Soak:
    cfg: SoakConfig
    outcomes: list[Outcome] = field(default_factory=list)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)

    def body(self, kind: str, rng: random.Random) -> tuple[str, Any]:
        """(API, JSON body or raw bytes) for one request of this kind."""
        cfg, model = self.cfg, self.cfg.model
        chat = {"messages": [{"role": "user", "content": rng.choice(SENTENCES)}], "max_tokens": cfg.max_tokens,
                **({"model": model} if model else {})}
        if kind == "chat":
            return "chat", chat
        if kind == "chat_stream":
            # ignore_eos (vLLM's extension): a random test model may end at once; the stream must carry text.
            return "chat", {**chat, "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
        if kind == "translate":
            text = rng.choice(SENTENCES)
            if rng.random() < 0.5:  # half repeat (translation-memory hits), half are new
                text = f"{text} {uuid.uuid4().hex[:6]}"
            return "translate", {"text": text, "target_lang": rng.choice(["en", "de", "zh"]),
                                 **({"model": model} if model else {})}
        if kind == "bad_json":
            return "chat", b'{"messages": [{"role": "user", "content": "hi"'
        if kind == "unknown_model":
            return "chat", {**chat, "model": f"no-such-model-{rng.randrange(1000)}"}
        if kind == "too_long":
            words = " ".join(rng.choice(WORDS) for _ in range(cfg.long_prompt_words))
            return "chat", {**chat, "messages": [{"role": "user", "content": words}]}
        return "chat", {**chat, **rng.choice(BAD_PARAMS)}

    async def one(self, session: aiohttp.ClientSession, kind: str, rng: random.Random) -> Outcome:
        api, body = self.body(kind, rng)
        url = endpoint(self.cfg.url.rstrip("/") + "/v1", api)
        if kind == "chat_stream":  # app.bench's streamed request: chunk times, error events, [DONE]
            rec = await send(session, url, api, body)
            first = rec.chunk_times[0] - rec.start if rec.chunk_times else None
            return Outcome(kind, rec.end - rec.start, rec.error or "ok", first)
        started = time.perf_counter()
        try:
            kwargs = {"data": body, "headers": {"content-type": "application/json"}} \
                if isinstance(body, bytes) else {"json": body}
            async with session.post(url, **kwargs) as resp:
                raw = await resp.read()
                status = resp.status
        except asyncio.TimeoutError:
            return Outcome(kind, time.perf_counter() - started, "timeout")
        except aiohttp.ClientError as exc:
            return Outcome(kind, time.perf_counter() - started, f"connection:{type(exc).__name__}")
        latency = time.perf_counter() - started
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return Outcome(kind, latency, judge(kind, status, parsed))

    async def client(self, session: aiohttp.ClientSession, index: int, deadline: float) -> None:
        rng = random.Random(self.cfg.seed * 1000 + index)
        kinds, weights = list(MIX), [w for w, _ in MIX.values()]
        while time.perf_counter() < deadline:
            self.outcomes.append(await self.one(session, rng.choices(kinds, weights)[0], rng))

    async def sample_memory(self, started: float, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await asyncio.sleep(min(self.cfg.sample_every, max(0.0, deadline - time.perf_counter())))
            rss = await asyncio.to_thread(ray_rss_mib, self.cfg.ray_match)
            self.rss_samples.append((round(time.perf_counter() - started, 1), rss))

    async def run(self) -> dict[str, Any]:
        cfg = self.cfg
        session = make_client(cfg.api_key, cfg.clients, cfg.timeout)
        try:
            started = time.perf_counter()
            deadline = started + cfg.duration
            clients = [asyncio.create_task(self.client(session, i, deadline)) for i in range(cfg.clients)]
            await asyncio.sleep(min(cfg.warmup, cfg.duration))
            baseline = await asyncio.to_thread(ray_rss_mib, cfg.ray_match)
            self.rss_samples.append((round(time.perf_counter() - started, 1), baseline))
            await self.sample_memory(started, deadline)
            await asyncio.gather(*clients)
            elapsed = time.perf_counter() - started
        finally:
            await session.close()
        final = await asyncio.to_thread(ray_rss_mib, cfg.ray_match)
        self.rss_samples.append((round(elapsed, 1), final))
        return self.report(elapsed, baseline, final)

    def report(self, elapsed: float, baseline: float, final: float) -> dict[str, Any]:
        kinds: dict[str, Any] = {}
        for kind in MIX:
            mine = [o for o in self.outcomes if o.kind == kind]
            ok = [o.latency for o in mine if o.result == "ok"]
            row = {"requests": len(mine), "ok": len(ok), "p50_ms": _ms(percentile(ok, 50)),
                   "p99_ms": _ms(percentile(ok, 99))}
            ttfts = [o.ttft for o in mine if o.ttft is not None and o.result == "ok"]
            if ttfts:
                row.update(ttft_p50_ms=_ms(percentile(ttfts, 50)), ttft_p99_ms=_ms(percentile(ttfts, 99)))
            kinds[kind] = row
        unexpected = Counter(f"{o.kind}:{o.result}" for o in self.outcomes if o.result != "ok")
        growth = final - baseline
        return {
            "config": self.cfg.model_dump(exclude={"api_key"}),
            "elapsed_s": round(elapsed, 1),
            "requests": len(self.outcomes),
            "requests_per_s": round(len(self.outcomes) / elapsed, 2) if elapsed else None,
            "unexpected_errors": sum(unexpected.values()),
            "unexpected_by_type": dict(unexpected.most_common()),
            "kinds": kinds,
            "rss_mib": {"baseline": round(baseline, 1), "final": round(final, 1), "growth": round(growth, 1),
                        "peak": round(max(r for _, r in self.rss_samples), 1), "samples": self.rss_samples},
            "passed": not unexpected and growth <= self.cfg.max_rss_growth_mb,
        }


def judge(kind: str, status: int, body: Any) -> str:
    """'ok' when a non-streamed answer is what this kind should get, else what it got instead."""
    if status not in MIX[kind][1]:
        return classify_http(status, body)
    if status != 200:  # an expected 4xx must still be OpenAI's error shape, with a message
        err = body.get("error") if isinstance(body, dict) else None
        ok = isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)
        return "ok" if ok else "unshaped_error"
    if kind == "chat":
        return "ok" if isinstance(body, dict) and body.get("choices") else "bad_answer"
    return "ok" if isinstance(body, dict) and isinstance(body.get("translations"), list) else "bad_answer"


def _ms(seconds: float) -> float | None:
    return None if seconds != seconds else round(seconds * 1000, 1)  # NaN: nothing measured


def ray_processes(match: str | None) -> list:
    """Ray's processes on this host, with their children (vLLM's engine core, for one). With `match`,
    only the cluster whose GCS and raylet name it on their command lines, as tests/conftest.py does:
    workers rename themselves ("ray::ServeReplica:..."), so they are found as descendants."""
    import psutil

    def root(cmd: list[str]) -> bool:
        joined = " ".join(cmd)
        is_ray = any("site-packages/ray/" in part for part in cmd[:3]) or joined.startswith("ray::")
        return is_ray and (match is None or match in joined)

    found: dict[int, Any] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if root(proc.info["cmdline"] or []):
                for p in [proc, *proc.children(recursive=True)]:
                    found[p.pid] = p
        except psutil.Error:
            continue
    return list(found.values())


def ray_rss_mib(match: str | None) -> float:
    import psutil

    total = 0
    for proc in ray_processes(match):
        try:
            total += proc.memory_info().rss
        except psutil.Error:  # exited meanwhile
            continue
    return total / 2**20


def parse_args(argv: list[str] | None) -> tuple[SoakConfig, str | None]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the service's root URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--duration", type=float, default=300.0, help="seconds")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before the memory baseline")
    p.add_argument("--model")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--long-prompt-words", type=int, default=6000, help="must exceed the model's context")
    p.add_argument("--api-key")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--max-rss-growth-mb", type=float, default=500.0)
    p.add_argument("--ray-match", help="only Ray processes whose command line holds this, e.g. the temp dir")
    p.add_argument("--sample-every", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_out", help="also write the report to this file")
    a = p.parse_args(argv)
    fields = {k: v for k, v in vars(a).items() if k != "json_out" and v is not None}
    return SoakConfig(**fields), a.json_out


def main(argv: list[str] | None = None) -> int:
    cfg, json_out = parse_args(argv)
    report = asyncio.run(Soak(cfg).run())
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
