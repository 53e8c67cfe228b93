"""Is the embedded default computed correctly on this machine? (run on the GPU host and on CPU)

    python cluster/gemma_check.py reference MODEL_DIR OUT_DIR      # here: what a good conversion looks like
    python cluster/gemma_check.py compare MODEL_DIR REFERENCE_DIR   # there: which file of its conversion differs
    python cluster/gemma_check.py losses MODEL_DIR DATA_DIR DEVICE [DTYPE/ATTN ...]

`reference` copies a conversion's small files (config, tokenizer, generation config; 37 MB, 3.5 MB
as xz) and writes the digests of its weights and of the token ids of a few sentences. `compare` prints
what another conversion (the GPU host's, made with its own transformers and tokenizers) does
differently. `losses` prints the base model's loss under transformers on a plain English sentence and
on the answer tokens of 16 WMT21 zh-en pairs in the `plain` and `few_shot` prompt formats, for each
dtype and attention kernel asked for (default: all four); on CPU they are about 2.9 / 2.6 / 2.7, and a
much higher figure means that path, or that conversion, is off.
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

SMALL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")
SENTENCES = [
    "The quick brown fox jumps over the lazy dog. Machine translation has improved a lot in recent "
    "years, thanks to large language models.",
    "中国国家统计局周一公布，10月份全国居民消费价格同比上涨2.1%。",
    "Chinese: 你好，世界！\nEnglish: Hello, world!\n\n  tabs\tand  spaces ",
    "Übersetzung ins Deutsche: „Straße“ – naïve café.",
]


def weights_digest(model_dir: Path) -> str:
    import torch
    from safetensors.torch import load_file

    state, digest = load_file(str(model_dir / "model.safetensors")), hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def token_ids(model_dir: Path) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return [tokenizer(text).input_ids for text in SENTENCES]


def reference(model_dir: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in SMALL_FILES:
        shutil.copy(model_dir / name, out / name)
    (out / "digests.json").write_text(
        json.dumps({"weights": weights_digest(model_dir), "token_ids": token_ids(model_dir)}, indent=1)
    )
    print("reference written to", out)


def compare(model_dir: Path, ref_dir: Path) -> bool:
    """Print every difference from the reference; True when there is none."""
    want = json.loads((ref_dir / "digests.json").read_text())
    same = True
    got = weights_digest(model_dir)
    print("weights", "same" if got == want["weights"] else f"DIFFER ({got} vs {want['weights']})")
    same &= got == want["weights"]
    for text, mine, theirs in zip(SENTENCES, token_ids(model_dir), want["token_ids"]):
        if mine != theirs:
            same = False
            print(f"tokens DIFFER for {text[:30]!r}: {mine[:24]} vs {theirs[:24]}")
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        mine, theirs = json.loads((model_dir / name).read_text()), json.loads((ref_dir / name).read_text())
        for key in sorted(set(mine) | set(theirs)):
            if key != "transformers_version" and mine.get(key) != theirs.get(key):
                same = False
                print(f"{name}: {key} = {mine.get(key)!r} here, {theirs.get(key)!r} in the reference")
    print("conversion matches the reference" if same else "conversion DIFFERS from the reference")
    return same


def losses(model_dir: Path, data_dir: Path, device: str, variants: list[str]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.finetune import data
    from app.finetune.train import answer_loss, collate

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    wmt = data_dir / "wmt21"
    pairs = data.pairs_from_files(
        [(wmt / "newstest2021.zh-en.src.zh", wmt / "newstest2021.zh-en.ref.A.en")], "zh", "en", False
    )[:16]
    ids = tokenizer(SENTENCES[0], return_tensors="pt").input_ids.to(device)
    for variant in variants or ["float32/eager", "float32/sdpa", "bfloat16/eager", "bfloat16/sdpa"]:
        dtype, attn = variant.split("/")
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=getattr(torch, dtype), attn_implementation=attn
        )
        model = model.to(device).eval()
        model.get_base_model = lambda model=model: model  # answer_loss expects a peft wrapper
        with torch.no_grad():
            values = [model(ids, labels=ids).loss.item()]
            for style in ("plain", "few_shot"):
                batch = data.encode_all(tokenizer, style, pairs, 512)
                values.append(float(answer_loss(model, *collate(batch, tokenizer.pad_token_id, device))))
        print(device, dtype, attn, "sentence/plain/few_shot", [round(x, 3) for x in values], flush=True)
        del model


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "reference":
        reference(Path(args[0]), Path(args[1]))
    elif command == "compare":
        return 0 if compare(Path(args[0]), Path(args[1])) else 1
    elif command == "losses":
        losses(Path(args[0]), Path(args[1]), args[2], args[3:])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
