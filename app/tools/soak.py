"""Soak a running fanyi service: many concurrent clients for minutes, mixing good and bad requests.

    python -m app.tools.soak --url http://127.0.0.1:8000 --clients 32 --duration 300 --json soak.json
    python -m app.tools.soak --url http://127.0.0.1:8000 --adversarial       # attacks mixed in

Each client loops over a weighted mix of streamed and non-streamed chat, /v1/translate, and bad
requests (invalid JSON, unknown model, a prompt beyond the context, out-of-range parameters). A bad
request answered with its expected 4xx and an OpenAI-shaped error body is a success; any 5xx, timeout,
broken stream or other status is an unexpected error. `--adversarial` adds the hardening review's
attacks (app.bench.attacks: long runs, deep nesting, one-paragraph documents, a .docx bomb), strings that
cannot be encoded, and `--slow-clients` connections that never finish their body (each must get a
JSON 408). Throughout, /health is probed every `--health-every` seconds (its p99 must stay under
`--max-health-p99-ms`) and /metrics must still answer at the end. The resident memory of the Ray processes on this
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
    adversarial: bool = Field(False, description="Mix in attacks, unencodable strings and slow clients.")
    attack_size: int = Field(200_000, ge=1, description="Bytes of each attack's text or file content.")
    slow_clients: int = Field(4, ge=0, description="With adversarial: connections that never finish their body.")
    health_every: float = Field(0.25, gt=0, description="Seconds between /health probes.")
    max_health_p99_ms: float = Field(500.0, gt=0)


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
SENTENCES = [
    "今天天气很好。",
    "我们去公园散步吧！",
    "Good morning, how are you?",
    "The meeting starts at nine.",
    "请把文件发给我。",
    "Where is the train station?",
    "这本书很有意思。",
    "Thank you for your help.",
]
BAD_PARAMS = [{"temperature": -1}, {"top_p": 2.5}, {"max_tokens": 0}, {"messages": []}, {"n": "many"}]
# Added by --adversarial. An attack is planned and then translated or refused: 200, or the limit it hits.
ADVERSARIAL: dict[str, tuple[int, frozenset[int]]] = {
    "attack": (3, frozenset({200, 400, 413})),
    "bad_string": (1, frozenset({400})),
}
# JSON that decodes to strings UTF-8 cannot encode (lone surrogates), and out-of-range values.
BAD_STRINGS = [
    ("translate", '{"text": "hello \\udfff world", "target_lang": "en"}'),
    ("chat", '{"model": "x\\ud800", "messages": [{"role": "user", "content": "hi"}]}'),
    ("chat", '{"messages": [{"role": "user", "content": "hi \\ud800"}], "max_tokens": 4}'),
    ("chat", '{"messages": [{"role": "user", "content": "hi"}], "seed": 18446744073709551616}'),
    ("translate", '{"text": "see https://x.io", "target_lang": "en", "glossary": {"\\u27e60\\u27e7": "x"}}'),
]


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
    health: list[float | None] = field(default_factory=list)  # seconds per /health probe; None: failed
    attacks: dict[str, Any] = field(default_factory=dict)  # built once per name: a bomb is costly to build

    @property
    def mix(self) -> dict[str, tuple[int, frozenset[int]]]:
        return {**MIX, **ADVERSARIAL} if self.cfg.adversarial else MIX

    def attack(self, rng: random.Random) -> Any:
        """A request from app.bench.attacks: its own size for .docx (the bomb must inflate far), else attack_size."""
        from app.bench.attacks import CATALOGUE

        name = rng.choice(sorted(CATALOGUE))
        if name not in self.attacks:
            spec = CATALOGUE[name]
            self.attacks[name] = spec.request(None if name.startswith("docx") else self.cfg.attack_size)
        return self.attacks[name]

    def body(self, kind: str, rng: random.Random) -> tuple[str, Any]:
        """(API, JSON body or raw bytes) for one request of this kind."""
        cfg, model = self.cfg, self.cfg.model
        chat = {
            "messages": [{"role": "user", "content": rng.choice(SENTENCES)}],
            "max_tokens": cfg.max_tokens,
            **({"model": model} if model else {}),
        }
        if kind == "chat":
            return "chat", chat
        if kind == "chat_stream":
            # ignore_eos (vLLM's extension): a random test model may end at once; the stream must carry text.
            return "chat", {**chat, "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
        if kind == "translate":
            text = rng.choice(SENTENCES)
            if rng.random() < 0.5:  # half repeat (translation-memory hits), half are new
                text = f"{text} {uuid.uuid4().hex[:6]}"
            return "translate", {
                "text": text,
                "target_lang": rng.choice(["en", "de", "zh"]),
                **({"model": model} if model else {}),
            }
        if kind == "bad_json":
            return "chat", b'{"messages": [{"role": "user", "content": "hi"'
        if kind == "unknown_model":
            return "chat", {**chat, "model": f"no-such-model-{rng.randrange(1000)}"}
        if kind == "bad_string":
            api, raw = rng.choice(BAD_STRINGS)
            return api, raw.encode()
        if kind == "attack":
            return "attack", self.attack(rng)
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
            if api == "attack":
                url, kwargs = self.cfg.url.rstrip("/") + body.route, _attack_kwargs(body)
            else:
                kwargs = (
                    {"data": body, "headers": {"content-type": "application/json"}}
                    if isinstance(body, bytes)
                    else {"json": body}
                )
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
        return Outcome(kind, latency, judge(kind, status, parsed, self.mix))

    async def client(self, session: aiohttp.ClientSession, index: int, deadline: float) -> None:
        rng = random.Random(self.cfg.seed * 1000 + index)
        kinds, weights = list(self.mix), [w for w, _ in self.mix.values()]
        while time.perf_counter() < deadline:
            self.outcomes.append(await self.one(session, rng.choices(kinds, weights)[0], rng))

    async def slow_client(self, deadline: float) -> None:
        """Loop: declare a body, send a tenth of it, wait; the service must answer a JSON 408 and close."""
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            result = await slow_body(self.cfg.url, self.cfg.api_key, self.cfg.timeout)
            self.outcomes.append(Outcome("slow_body", time.perf_counter() - started, result))

    async def probe_health(self, session: aiohttp.ClientSession, deadline: float) -> None:
        url = self.cfg.url.rstrip("/") + "/health"
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    await resp.read()
                    self.health.append(time.perf_counter() - started if resp.status == 200 else None)
            except (asyncio.TimeoutError, aiohttp.ClientError):
                self.health.append(None)
            await asyncio.sleep(self.cfg.health_every)

    async def metrics_answer(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(self.cfg.url.rstrip("/") + "/metrics") as resp:
                return resp.status == 200 and "fanyi_requests_total" in await resp.text()
        except (asyncio.TimeoutError, aiohttp.ClientError):
            return False

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
            clients += [
                asyncio.create_task(self.slow_client(deadline))
                for _ in range(cfg.slow_clients if cfg.adversarial else 0)
            ]
            clients.append(asyncio.create_task(self.probe_health(session, deadline)))
            await asyncio.sleep(min(cfg.warmup, cfg.duration))
            baseline = await asyncio.to_thread(ray_rss_mib, cfg.ray_match)
            self.rss_samples.append((round(time.perf_counter() - started, 1), baseline))
            await self.sample_memory(started, deadline)
            await asyncio.gather(*clients)
            elapsed = time.perf_counter() - started
            metrics_ok = await self.metrics_answer(session)
        finally:
            await session.close()
        final = await asyncio.to_thread(ray_rss_mib, cfg.ray_match)
        self.rss_samples.append((round(elapsed, 1), final))
        return self.report(elapsed, baseline, final, metrics_ok)

    def report(self, elapsed: float, baseline: float, final: float, metrics_ok: bool = True) -> dict[str, Any]:
        kinds: dict[str, Any] = {}
        names = [*self.mix, *(["slow_body"] if self.cfg.adversarial and self.cfg.slow_clients else [])]
        for kind in names:
            mine = [o for o in self.outcomes if o.kind == kind]
            ok = [o.latency for o in mine if o.result == "ok"]
            row = {
                "requests": len(mine),
                "ok": len(ok),
                "p50_ms": _ms(percentile(ok, 50)),
                "p99_ms": _ms(percentile(ok, 99)),
            }
            ttfts = [o.ttft for o in mine if o.ttft is not None and o.result == "ok"]
            if ttfts:
                row.update(ttft_p50_ms=_ms(percentile(ttfts, 50)), ttft_p99_ms=_ms(percentile(ttfts, 99)))
            kinds[kind] = row
        unexpected = Counter(f"{o.kind}:{o.result}" for o in self.outcomes if o.result != "ok")
        growth = final - baseline
        answered = [h for h in self.health if h is not None]
        health = {
            "probes": len(self.health),
            "failed": len(self.health) - len(answered),
            "p50_ms": _ms(percentile(answered, 50)),
            "p99_ms": _ms(percentile(answered, 99)),
            "max_ms": _ms(max(answered)) if answered else None,
        }
        health_ok = bool(answered) and not health["failed"] and health["p99_ms"] <= self.cfg.max_health_p99_ms
        return {
            "config": self.cfg.model_dump(exclude={"api_key"}),
            "elapsed_s": round(elapsed, 1),
            "requests": len(self.outcomes),
            "requests_per_s": round(len(self.outcomes) / elapsed, 2) if elapsed else None,
            "unexpected_errors": sum(unexpected.values()),
            "unexpected_by_type": dict(unexpected.most_common()),
            "kinds": kinds,
            "rss_mib": {
                "baseline": round(baseline, 1),
                "final": round(final, 1),
                "growth": round(growth, 1),
                "peak": round(max(r for _, r in self.rss_samples), 1),
                "samples": self.rss_samples,
            },
            "health": health,
            "metrics_ok": metrics_ok,
            "passed": not unexpected and growth <= self.cfg.max_rss_growth_mb and health_ok and metrics_ok,
        }


def judge(kind: str, status: int, body: Any, mix: dict[str, tuple[int, frozenset[int]]] = MIX) -> str:
    """'ok' when a non-streamed answer is what this kind should get, else what it got instead."""
    if status not in mix[kind][1]:
        return classify_http(status, body)
    if status != 200:  # an expected 4xx must still be OpenAI's error shape, with a message
        err = body.get("error") if isinstance(body, dict) else None
        ok = isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)
        return "ok" if ok else "unshaped_error"
    if kind == "chat":
        return "ok" if isinstance(body, dict) and body.get("choices") else "bad_answer"
    if kind == "attack":  # a translated file comes back as the file itself
        return "ok"
    return "ok" if isinstance(body, dict) and isinstance(body.get("translations"), list) else "bad_answer"


def _attack_kwargs(request: Any) -> dict[str, Any]:
    """aiohttp arguments for an app.bench.attacks request: its JSON body, or its upload as multipart."""
    if hasattr(request, "json"):
        return {"json": request.json()}
    form = aiohttp.FormData(request.form())
    form.add_field("file", request.data, filename=request.filename, content_type=request.media_type)
    return {"data": form}


async def slow_body(url: str, api_key: str | None, timeout: float) -> str:
    """One request whose body never completes: 'ok' for a JSON 408 (and the connection closed)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    auth = f"authorization: Bearer {api_key}\r\n" if api_key else ""
    head = (
        f"POST /v1/translate HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
        f"{auth}content-length: 1000\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    except OSError as exc:
        return f"connection:{type(exc).__name__}"
    try:
        writer.write(head + b'{"text": "hello')
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)  # until the service closes the connection
    except asyncio.TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"connection:{type(exc).__name__}"
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    status = int(status_line.split()[1]) if len(status_line.split()) > 1 else 0
    body = rest.partition(b"\r\n\r\n")[2]
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if status != 408:
        return classify_http(status, parsed)
    return "ok" if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict) else "unshaped_error"


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
    p.add_argument("--adversarial", action="store_true", help="mix in attacks, bad strings and slow clients")
    p.add_argument("--attack-size", type=int, default=200_000, help="bytes of each attack's text or file")
    p.add_argument("--slow-clients", type=int, default=4, help="with --adversarial: never-ending bodies")
    p.add_argument("--health-every", type=float, default=0.25, help="seconds between /health probes")
    p.add_argument("--max-health-p99-ms", type=float, default=500.0)
    p.add_argument("--json", dest="json_out", help="also write the report to this file")
    a = p.parse_args(argv)
    fields = {k: v for k, v in vars(a).items() if k != "json_out" and v is not None and v is not False}
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
