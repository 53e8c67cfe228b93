"""Fine-tune a translation LoRA adapter and score it against the base model: the QLoRA closed loop.

    python -m app.finetune --base models/gemma-3-270m \\
        --train ../shared/data/tatoeba/tatoeba.en-zh.zh ../shared/data/tatoeba/tatoeba.en-zh.en \\
        --dev ../shared/data/wmt21/newstest2021.zh-en.src.zh ../shared/data/wmt21/newstest2021.zh-en.ref.A.en \\
        --source zh --target en --both-directions --out adapters/gemma-zh-en

Data preparation (app/finetune/data.py) uses the prompt the service sends (app/translate/prompts.py), training
(app/finetune/train.py) is 4-bit QLoRA on CUDA when bitsandbytes is there and plain LoRA otherwise, and
the before/after scores come from `app.tools.eval --engine` (the service's translation path, in a subprocess
so the training process's GPU memory is gone). The adapter folder is a standard PEFT folder plus
`fanyi-adapter.json` (recipe, data, losses, scores); the service serves it once listed under the base
model's `adapters:` in serve_config.yaml.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from app.finetune import data
from app.finetune.train import Recipe, save_adapter, train

RECIPE_FILE = "fanyi-adapter.json"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a LoRA/QLoRA translation adapter and compare it with its base.")
    p.add_argument("--base", required=True, help="base model folder (Hugging Face layout)")
    p.add_argument(
        "--train",
        nargs=2,
        action="append",
        required=True,
        metavar=("SRC", "REF"),
        help="line-aligned source and reference files, --source -> --target; repeatable",
    )
    p.add_argument("--dev", nargs=2, metavar=("SRC", "REF"), help="files scored before and after training")
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", type=Path, required=True, help="adapter folder to write")
    p.add_argument("--name", help="served adapter name (default: the --out folder's name)")
    p.add_argument("--both-directions", action="store_true", help="also train target -> source on the same pairs")
    p.add_argument(
        "--prompt-style",
        choices=["chat", "few_shot", "plain"],
        help="prompt format to train on (default: chat for models with a chat template, else plain)",
    )
    p.add_argument(
        "--base-prompt-style",
        choices=["chat", "few_shot", "plain"],
        help="prompt the base model is scored with (default: chat, else few_shot)",
    )
    p.add_argument(
        "--quantization",
        choices=["4bit", "none"],
        help="4bit: QLoRA (default on CUDA with bitsandbytes); none: LoRA on bf16/fp32 weights",
    )
    p.add_argument(
        "--dtype",
        choices=["bfloat16", "float32"],
        help="weights and compute of the base model (default: bfloat16 on CUDA, float32 on CPU)",
    )
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=256, help="longest example (prompt + answer) kept")
    p.add_argument("--holdout", type=float, default=0.02, help="share of training pairs held out for the dev loss")
    p.add_argument("--eval-every", type=int, default=200, help="steps between dev-loss checks")
    p.add_argument("--eval-limit", type=int, default=None, help="score only the first N dev lines")
    p.add_argument(
        "--eval-engine",
        choices=["vllm", "transformers", "none"],
        default=None,
        help="engine for the before/after scores (default: vllm on CUDA, transformers on CPU)",
    )
    p.add_argument("--max-minutes", type=float, help="stop training after this long, keeping the best weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-gradient-checkpointing", action="store_true")
    return p


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _quantization(requested: str | None, device: str) -> str:
    if requested == "4bit" and device != "cuda":
        raise data.DataError("--quantization 4bit needs a CUDA GPU; use --quantization none on CPU")
    if requested:
        return requested
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return "none"
    return "4bit" if device == "cuda" else "none"


def prepare(args, tokenizer, style: str) -> tuple[list[data.Example], list[data.Example], dict]:
    source, target = data.language(args.source, "--source"), data.language(args.target, "--target")
    files = [(Path(s), Path(r)) for s, r in args.train]
    pairs = data.clean_pairs(data.pairs_from_files(files, source, target, args.both_directions))
    if not pairs:
        raise data.DataError("no usable training pairs after filtering (empty, copied or overlong lines)")
    train_pairs, held = data.split_holdout(pairs, args.holdout, args.seed)
    train_set = data.encode_all(tokenizer, style, train_pairs, args.max_tokens)
    dev_set = data.encode_all(tokenizer, style, held, args.max_tokens)
    if not train_set:
        raise data.DataError(f"every example is longer than --max-tokens {args.max_tokens}")
    stats = {
        "files": [[str(s), str(r)] for s, r in files],
        "pairs_after_cleaning": len(pairs),
        "train_examples": len(train_set),
        "holdout_examples": len(dev_set),
        "both_directions": args.both_directions,
    }
    return train_set, dev_set, stats


def evaluate(args, name: str, style: str, base_style: str, engine: str) -> list[dict]:
    """Base model (its prompt) vs the adapter (its prompt) on the dev files, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        scores = Path(tmp) / "scores.json"
        cmd = [
            sys.executable,
            "-m",
            "app.tools.eval",
            "--engine",
            engine,
            "--model-source",
            str(Path(args.base).resolve()),
            "--device",
            _device(),
            "--prompt-style",
            base_style,
            "--adapter",
            f"{name}={args.out.resolve()}:{style}",
            "--src",
            args.dev[0],
            "--ref",
            args.dev[1],
            "--source",
            args.source,
            "--target",
            args.target,
            "--json",
            str(scores),
        ]
        if args.eval_limit:
            cmd += ["--limit", str(args.eval_limit)]
        if args.dtype:  # score with the precision the adapter was trained in
            cmd += ["--dtype", args.dtype]
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parent.parent)
        return json.loads(scores.read_text())


def run(args) -> dict:
    from transformers import AutoTokenizer

    device = _device()
    quantization = _quantization(args.quantization, device)
    if not (Path(args.base) / "config.json").is_file():
        raise data.DataError(f"--base {args.base}: no model folder (config.json) there")
    if args.dev:
        data.read_parallel(Path(args.dev[0]), Path(args.dev[1]))  # fail now, not after training
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    chat = bool(getattr(tokenizer, "chat_template", None))
    style = args.prompt_style or ("chat" if chat else "plain")
    base_style = args.base_prompt_style or ("chat" if chat else "few_shot")
    train_set, dev_set, stats = prepare(args, tokenizer, style)
    recipe = Recipe(
        base=str(args.base),
        quantization=quantization,
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        seed=args.seed,
        gradient_checkpointing=not args.no_gradient_checkpointing,
        eval_every=args.eval_every,
        device=device,
        dtype=args.dtype or ("bfloat16" if device == "cuda" else "float32"),
        max_seconds=args.max_minutes * 60 if args.max_minutes else None,
    )
    model, metrics = train(recipe, train_set, dev_set, tokenizer.pad_token_id or 0)
    args.out.mkdir(parents=True, exist_ok=True)
    size = save_adapter(model, args.out)
    del model
    name = args.name or args.out.name
    report = {
        "name": name,
        "base": str(args.base),
        "source": args.source,
        "target": args.target,
        "prompt_style": style,
        "base_prompt_style": base_style,
        "adapter_bytes": size,
        "data": stats,
        "training": metrics,
        "device": _device_name(device),
    }
    (args.out / RECIPE_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=2))
    engine = args.eval_engine or ("vllm" if device == "cuda" else "transformers")
    if args.dev and engine != "none":
        _free_gpu()
        report["eval"] = evaluate(args, name, style, base_style, engine)
        (args.out / RECIPE_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return report


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def _free_gpu() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except data.DataError as exc:
        parser.error(str(exc))
    t = report["training"]
    print(
        f"adapter {report['name']}: {args.out} ({report['adapter_bytes'] / 1e6:.1f} MB), {t['steps']} steps in "
        f"{t['train_seconds']} s, train loss {t['first_train_loss']} -> {t['last_train_loss']}, "
        f"best dev loss {t['best_dev_loss']} at step {t['best_step']}"
    )
    for row in report.get("eval", []):
        print(f"  {row['system']}: BLEU {row['bleu']}  chrF {row['chrf']}  ({row['segments']} lines)")
    print(
        "Serve it: add under the base model in serve_config.yaml\n"
        f"  adapters:\n    - name: {report['name']}\n      path: {args.out}\n"
        f"      prompt_style: {report['prompt_style']}"
    )
    return 0
