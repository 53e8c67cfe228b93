"""Check a running deployment with the official `openai` client: list models, stream a chat
completion and a completion, and print what came back with time to first token.

    python -m app.tools.client_check --base-url http://127.0.0.1:8000/v1 [--model NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def check(base_url: str, model: str | None, prompt: str, max_tokens: int) -> dict:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
    models = [m.id for m in client.models.list().data]
    model = model or models[0]
    started = time.perf_counter()
    ttft, parts, usage = None, [], None
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            ttft = ttft if ttft is not None else time.perf_counter() - started
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage.model_dump()
    chat_seconds = time.perf_counter() - started
    completion = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0)
    return {
        "models": models,
        "model": model,
        "chat_stream": {
            "chunks": len(parts),
            "text": "".join(parts),
            "ttft_s": ttft,
            "seconds": chat_seconds,
            "usage": usage,
        },
        "completion": {"text": completion.choices[0].text, "usage": completion.usage.model_dump()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default=None, help="default: the first model listed")
    parser.add_argument("--prompt", default="Translate into English: 今天天气很好。")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args(argv)
    result = check(args.base_url, args.model, args.prompt, args.max_tokens)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["chat_stream"]["chunks"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
