"""The LoRA / QLoRA training loop of app.finetune (peft + transformers + plain PyTorch).

A short explicit loop rather than transformers' Trainer: the loss is computed on the answer positions
only, and only those rows go through the output layer. Gemma's vocabulary has 262k entries, so full
logits over prompt tokens would cost more than the whole rest of the model.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from app.finetune.data import IGNORE, Example


@dataclass
class Recipe:
    base: str
    quantization: str = "4bit"  # "4bit" (QLoRA, NF4, CUDA + bitsandbytes) or "none" (LoRA on bf16/fp32)
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    learning_rate: float = 5e-4
    epochs: float = 1.0
    batch_size: int = 32
    max_tokens: int = 256
    warmup: float = 0.03
    seed: int = 0
    gradient_checkpointing: bool = True
    eval_every: int = 200
    device: str = "cpu"
    dtype: str = "float32"  # weights and compute: "bfloat16" (autocast on CUDA) or "float32"
    max_seconds: float | None = None  # stop early (keeping the best dev-loss weights) past this time


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_model(recipe: Recipe):
    """The base model with fresh LoRA weights on every linear layer but the output one."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    kwargs = {}
    if recipe.quantization == "4bit":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, recipe.dtype),
        )
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(recipe.base, dtype=getattr(torch, recipe.dtype), **kwargs)
    if recipe.quantization == "4bit":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    else:
        model = model.to(recipe.device)
    if recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def batches(examples: list[Example], batch_size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of similar lengths (less padding), in shuffled order."""
    order = examples[:]
    rng.shuffle(order)
    window = batch_size * 50
    out = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda e: len(e.input_ids))
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def collate(batch: list[Example], pad_id: int, device: str):
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def answer_loss(model, ids, mask, labels):
    """Mean cross-entropy over answer tokens; the output layer sees only those positions."""
    import torch.nn.functional as F

    base = model.get_base_model()
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else base.model
    hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = (logits / cap).tanh() * cap
    return F.cross_entropy(logits, targets[keep])


def dev_loss(model, dev: list[Example], batch_size: int, pad_id: int, device: str, dtype: str = "float32") -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), _autocast(device, dtype):
        for start in range(0, len(dev), batch_size):
            batch = dev[start : start + batch_size]
            ids, mask, labels = collate(batch, pad_id, device)
            n = int((labels[:, 1:] != IGNORE).sum())
            total += float(answer_loss(model, ids, mask, labels)) * n
            count += n
    model.train()
    return total / max(count, 1)


def _autocast(device: str, dtype: str):
    import contextlib

    import torch

    if device == "cuda" and dtype == "bfloat16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    recipe: Recipe, train_set: list[Example], dev_set: list[Example], pad_id: int, log: Callable[[str], None] = print
) -> tuple[object, dict]:
    """Train; returns the model holding the weights of the best dev loss, and the run's metrics."""
    import torch
    from tqdm import tqdm
    from transformers import get_cosine_schedule_with_warmup

    seed_everything(recipe.seed)
    model = load_model(recipe)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.0)
    rng = random.Random(recipe.seed)
    per_epoch = math.ceil(len(train_set) / recipe.batch_size)
    total = max(1, int(per_epoch * recipe.epochs))
    schedule = get_cosine_schedule_with_warmup(optimizer, int(total * recipe.warmup), total)
    first_dev = dev_loss(model, dev_set, recipe.batch_size, pad_id, recipe.device, recipe.dtype) if dev_set else None
    best = {"dev_loss": first_dev, "step": 0, "state": None}
    history = [{"step": 0, "dev_loss": best["dev_loss"]}]
    log(f"{len(train_set)} training examples, {len(dev_set)} held out, {total} steps; dev loss {best['dev_loss']}")
    started, step, losses = time.perf_counter(), 0, []
    bar = tqdm(total=total, desc="training", unit="step")
    while step < total:
        for batch in batches(train_set, recipe.batch_size, rng):
            ids, mask, labels = collate(batch, pad_id, recipe.device)
            with _autocast(recipe.device, recipe.dtype):
                loss = answer_loss(model, ids, mask, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
            if dev_set and (step % recipe.eval_every == 0 or step == total):
                current = dev_loss(model, dev_set, recipe.batch_size, pad_id, recipe.device, recipe.dtype)
                history.append(
                    {
                        "step": step,
                        "dev_loss": round(current, 4),
                        "train_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
                    }
                )
                log(f"step {step}: dev loss {current:.4f}")
                if best["dev_loss"] is None or current < best["dev_loss"]:
                    best = {"dev_loss": current, "step": step, "state": _adapter_state(model)}
            out_of_time = recipe.max_seconds is not None and time.perf_counter() - started > recipe.max_seconds
            if out_of_time and dev_set and history[-1]["step"] != step:
                current = dev_loss(model, dev_set, recipe.batch_size, pad_id, recipe.device, recipe.dtype)
                history.append({"step": step, "dev_loss": round(current, 4), "stopped": "max_seconds"})
                if best["dev_loss"] is None or current < best["dev_loss"]:
                    best = {"dev_loss": current, "step": step, "state": _adapter_state(model)}
            if step >= total or out_of_time:
                total = step
                break
    bar.close()
    if best["state"] is not None:
        model.load_state_dict(best["state"], strict=False)
    metrics = {
        "steps": step,
        "train_seconds": round(time.perf_counter() - started, 1),
        "first_train_loss": round(losses[0], 4),
        "last_train_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
        "best_dev_loss": None if best["dev_loss"] is None else round(best["dev_loss"], 4),
        "best_step": best["step"],
        "history": history,
        "recipe": asdict(recipe),
    }
    return model, metrics


def _adapter_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def save_adapter(model, out_dir: Path, dtype: str = "bfloat16") -> int:
    """Save a standard PEFT folder, weights cast to `dtype` (half the size of fp32); returns bytes."""
    import torch
    from safetensors.torch import load_file, save_file

    model.save_pretrained(out_dir, safe_serialization=True)
    weights = out_dir / "adapter_model.safetensors"
    tensors = load_file(weights)
    save_file(
        {k: v.to(getattr(torch, dtype)).contiguous() for k, v in tensors.items()}, weights, metadata={"format": "pt"}
    )
    weights.chmod(0o644)  # safetensors writes 0600; a serving user other than the trainer must read it
    return weights.stat().st_size
