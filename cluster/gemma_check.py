"""Is the embedded default computed correctly on this machine? (run on the GPU host and on CPU)

    python cluster/gemma_check.py DATA_DIR {cuda,cpu}

Prints a digest of the converted weights (to compare the host's conversion with a local one) and the
base model's loss under transformers for each dtype and attention kernel: on a plain English sentence,
and on the answer tokens of 16 WMT21 zh-en pairs in the `plain` and `few_shot` prompt formats. On CPU
(fp32 and bf16 alike) these are about 2.9 / 2.6 / 2.7; a much higher figure means that path is off.
"""

import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from app import finetune_data as data
from app.finetune_train import answer_loss, collate

MODEL = "models/gemma-3-270m"
SENTENCE = ("The quick brown fox jumps over the lazy dog. Machine translation has improved a lot in recent "
            "years, thanks to large language models.")


def weights_digest() -> str:
    state, digest = load_file(f"{MODEL}/model.safetensors"), hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def main(data_dir: Path, device: str) -> None:
    print("weights digest", weights_digest(), flush=True)
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    wmt = data_dir / "wmt21"
    pairs = data.pairs_from_files([(wmt / "newstest2021.zh-en.src.zh", wmt / "newstest2021.zh-en.ref.A.en")],
                                  "zh", "en", False)[:16]
    ids = tokenizer(SENTENCE, return_tensors="pt").input_ids.to(device)
    for dtype in (torch.float32, torch.bfloat16):
        for attn in ("eager", "sdpa"):
            model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=dtype, attn_implementation=attn)
            model = model.to(device).eval()
            model.get_base_model = lambda model=model: model  # answer_loss expects a peft wrapper
            with torch.no_grad():
                losses = [model(ids, labels=ids).loss.item()]
                for style in ("plain", "few_shot"):
                    batch = data.encode_all(tokenizer, style, pairs, 512)
                    losses.append(float(answer_loss(model, *collate(batch, tokenizer.pad_token_id, device))))
            print(device, str(dtype).removeprefix("torch."), attn, "sentence/plain/few_shot",
                  [round(x, 3) for x in losses], flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
