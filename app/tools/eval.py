"""Translation quality with sacreBLEU: translate a test set through an endpoint, score, compare.

    python -m app.tools.eval --base-url http://127.0.0.1:8000 --src ../shared/data/wmt21/newstest2021.zh-en.src.zh \
        --ref ../shared/data/wmt21/newstest2021.zh-en.ref.A.en \
        --source zh --target en [--model NAME] [--api fanyi|openai-chat] [--limit 200] [--json out.json]

`--api fanyi` uses this service's /v1/translate (segments, with post-processing); `--api openai-chat`
sends the project's chat prompt (app/translate/prompts.py) to any OpenAI-compatible chat endpoint, so other
servers can be compared on the same prompt. Several `--model` values give one table row each.

`--engine vllm|transformers --model-source DIR` skips the server: the model is loaded in this process
and translated through the service's own path (app/tools/local_translate.py), once as the base model and
once per `--adapter NAME=PATH[:PROMPT_STYLE]`, each a row of the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from app.translate import languages, prompts


@dataclass
class Score:
    system: str
    pair: str
    segments: int
    bleu: float
    chrf: float
    ter: float
    seconds: float


def bleu_tokenizer(target: str) -> str:
    """sacreBLEU's `zh` tokenizer for Chinese, `ja-mecab` is not installed, so Japanese uses char."""
    code = languages.normalize(target)
    if code.startswith("zh"):
        return "zh"
    return "char" if code in ("ja", "ko", "th") else "13a"


def score(system: str, hyps: list[str], refs: list[str], source: str, target: str, seconds: float) -> Score:
    import sacrebleu

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize=bleu_tokenizer(target))
    chrf = sacrebleu.corpus_chrf(hyps, [refs])
    ter = sacrebleu.corpus_ter(hyps, [refs], asian_support=languages.is_cjk(target))
    return Score(
        system,
        f"{source}-{target}",
        len(hyps),
        round(bleu.score, 2),
        round(chrf.score, 2),
        round(ter.score, 2),
        round(seconds, 1),
    )


def read_lines(path: Path, limit: int | None) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[:limit] if limit else lines


async def translate_fanyi(
    client, model: str | None, lines: list[str], source: str, target: str, batch: int = 32, concurrency: int = 4
) -> list[str]:
    gate = asyncio.Semaphore(concurrency)

    async def one(chunk: list[str]) -> list[str]:
        body = {"segments": chunk, "source_lang": source, "target_lang": target, "model": model}
        async with gate:
            resp = await client.post("/v1/translate", json=body)
        resp.raise_for_status()
        return [t["text"] for t in resp.json()["translations"]]

    parts = await asyncio.gather(*(one(lines[i : i + batch]) for i in range(0, len(lines), batch)))
    return [text for part in parts for text in part]


async def translate_chat(
    client, model: str | None, lines: list[str], source: str, target: str, concurrency: int = 16
) -> list[str]:
    gate = asyncio.Semaphore(concurrency)

    async def one(line: str) -> str:
        prompt = prompts.chat_prompt(line, source, target)
        body = {"model": model, "messages": prompt.messages, "temperature": 0, "max_tokens": 4 * len(line) + 32}
        async with gate:
            resp = await client.post("/v1/chat/completions", json=body)
        resp.raise_for_status()
        return resp.json()["choices"][0]["message"]["content"].strip().split("\n")[0]

    return list(await asyncio.gather(*(one(line) for line in lines)))


async def evaluate(args) -> list[Score]:
    import httpx

    source, target = languages.normalize(args.source), languages.normalize(args.target)
    lines, refs = read_lines(args.src, args.limit), read_lines(args.ref, args.limit)
    translate = translate_fanyi if args.api == "fanyi" else translate_chat
    results = []
    async with httpx.AsyncClient(base_url=args.base_url, timeout=600) as client:
        for model in args.model or [None]:
            started = time.perf_counter()
            hyps = await translate(client, model, lines, source, target)
            name = f"{model or 'default'} ({args.api})"
            results.append(score(name, hyps, refs, source, target, time.perf_counter() - started))
    return results


def engine_arg_values(specs: list[str] | None) -> dict:
    """KEY=VALUE strings -> engine kwargs; VALUE is JSON when it parses as JSON (numbers, true, lists)."""
    out = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        if not key or not sep:
            raise ValueError(f"--engine-arg {spec!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def engine_model(args):
    """The ModelConfig an `--engine` evaluation loads: the base model plus every `--adapter`."""
    from app.config import AdapterConfig, ModelConfig

    adapters = []
    for spec in args.adapter or []:
        name, _, rest = spec.partition("=")
        path, _, style = rest.partition(":")
        if not name or not path:
            raise ValueError(f"--adapter {spec!r}: expected NAME=PATH[:PROMPT_STYLE]")
        adapters.append(AdapterConfig(name=name, path=str(Path(path).resolve()), prompt_style=style or None))
    return ModelConfig(
        name=Path(args.model_source).name,
        source=str(Path(args.model_source).resolve()),
        engine=args.engine,
        device=args.device,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        prompt_style=args.prompt_style,
        engine_args=engine_arg_values(args.engine_arg),
        adapters=adapters,
    )


def evaluate_engine(args) -> list[Score]:
    from app.tools.local_translate import translate_sync

    source, target = languages.normalize(args.source), languages.normalize(args.target)
    lines, refs = read_lines(args.src, args.limit), read_lines(args.ref, args.limit)
    config = engine_model(args)
    systems = [None] + [a.name for a in config.adapters]
    results = translate_sync(config, lines, source, target, systems)
    scores = []
    for system in systems:
        hyps, seconds = results[system]
        style = next((a.prompt_style for a in config.adapters if a.name == system), None) or config.prompt_style
        scores.append(score(f"{system or config.name} ({args.engine}, {style})", hyps, refs, source, target, seconds))
    if args.hyps:
        args.hyps.write_text(json.dumps({s or config.name: results[s][0] for s in systems}, ensure_ascii=False))
    return scores


def table(scores: list[Score]) -> str:
    rows = ["| system | pair | segments | BLEU | chrF | TER | seconds |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rows += [f"| {s.system} | {s.pair} | {s.segments} | {s.bleu} | {s.chrf} | {s.ter} | {s.seconds} |" for s in scores]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--src", type=Path, required=True, help="source file, one segment a line")
    parser.add_argument("--ref", type=Path, required=True, help="reference file, line-aligned with --src")
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--model", action="append", help="repeat to compare models; default: the server's first")
    parser.add_argument("--api", choices=["fanyi", "openai-chat"], default="fanyi")
    parser.add_argument("--limit", type=int, default=None, help="first N segments only")
    parser.add_argument("--json", type=Path, default=None, help="write the scores here")
    direct = parser.add_argument_group("engine mode (no server)")
    direct.add_argument("--engine", choices=["vllm", "transformers"], default=None)
    direct.add_argument("--model-source", help="model folder to load")
    direct.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    direct.add_argument("--dtype", default="auto")
    direct.add_argument("--max-model-len", type=int, default=2048)
    direct.add_argument("--prompt-style", choices=["chat", "few_shot", "plain"], default="chat")
    direct.add_argument("--adapter", action="append", help="NAME=PATH[:PROMPT_STYLE], repeatable")
    direct.add_argument("--engine-arg", action="append", help="KEY=VALUE vLLM engine argument, repeatable")
    direct.add_argument("--hyps", type=Path, default=None, help="write the translations here (JSON)")
    args = parser.parse_args(argv)
    for path in (args.src, args.ref):
        if not path.is_file():
            parser.error(f"no such file: {path}")
    if args.engine and not args.model_source:
        parser.error("--engine needs --model-source")
    try:
        scores = evaluate_engine(args) if args.engine else asyncio.run(evaluate(args))
    except ValueError as exc:
        parser.error(str(exc))
    print(table(scores))
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in scores], ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
