"""Synthetic model folders built locally, so tests and speed runs never need a model hub.

`write_tiny_model`: a random ~0.5M-parameter Qwen2 LM for CPU tests (transformers, vLLM CPU).
`write_shape_model`: a production model's config + tokenizer, no weights, for vLLM speed runs
with `load_format="dummy"`. Both tokenizers are byte-level BPE with Qwen's own pipeline, because
transformers 5 ignores tokenizer.json's pipeline for `model_type: qwen2` and rebuilds Qwen2Tokenizer
from vocab + merges alone: any other tokenizer model (WordLevel, WordPiece) gets mangled there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

_RECIPE_VERSION = 1  # bump when a recipe changes, so cached folders from the old one are rebuilt
_MARKER = ".synthetic-model.json"

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Qwen2's pre-tokenizer split (as in transformers' Qwen2Tokenizer), so both loaders agree.
_QWEN_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
               r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

# BPE training text: the languages the service translates between (Chinese gets multi-byte merges).
_CORPUS = """\
Translate the following text from English to German. Translate it from Chinese to English.
The quick brown fox jumps over the lazy dog.
Good morning, how are you today? The weather is nice and the sun is shining.
Please send me the report before Friday. Machine translation has improved a lot in recent years.
We are going to the train station at eight o'clock.
This service translates documents between many languages. Thank you very much for your help!
Übersetze den folgenden Text ins Deutsche. Der schnelle braune Fuchs springt über den faulen Hund.
Guten Morgen, wie geht es Ihnen heute? Das Wetter ist schön und die Sonne scheint.
Bitte schicken Sie mir den Bericht vor Freitag.
Maschinelle Übersetzung hat sich in den letzten Jahren stark verbessert.
Wir fahren um acht Uhr zum Bahnhof. Vielen Dank für Ihre Hilfe!
Die Straße ist nass, weil es gestern geregnet hat. Ich möchte ein Glas Wasser, bitte.
请把下面的文字翻译成英文。敏捷的棕色狐狸跳过了那只懒狗。早上好，你今天好吗？
今天天气很好，阳光明媚。请在星期五之前把报告发给我。近年来机器翻译有了很大的进步。
我们八点钟去火车站。非常感谢你的帮助！这个服务可以在多种语言之间翻译文件。我想要一杯水，谢谢。
"""
# Common English words (trained lower-case and Capitalised), so English prompts mostly encode to
# one token per word, roughly like the real Qwen tokenizer; other text falls back to bytes.
_WORDS = """\
the be to of and a in that have i it for not on with he as you do at this but his by from they we
say her she or an will my one all would there their what so up out if about who get which go me
when make can like time no just him know take people into year your good some could them see other
than then now look only come its over think also back after use two how our work first well way
even new want because any these give day most us is are was were been has had did said made went
got translate translation text following language languages english german chinese french spanish
sentence word words document documents please thank thanks hello world morning today tomorrow
yesterday weather sun rain report friday monday week month help water glass train station city
"""


def _is_complete(out_dir: Path, marker: dict) -> bool:
    try:
        return json.loads((out_dir / _MARKER).read_text()) == marker
    except (OSError, ValueError):
        return False


def _publish(out_dir: Path, marker: dict, build: Callable[[Path], None]) -> Path:
    """Build into a temp sibling and rename it into place; skip if a matching build exists."""
    out_dir = Path(out_dir).absolute()
    if _is_complete(out_dir, marker):
        return out_dir
    # Never replace a folder this module did not make: a typo in --out must not delete data.
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / _MARKER).exists():
        raise FileExistsError(f"{out_dir} exists and was not written by app.models.synthetic")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; workers may run as another user
    try:
        build(tmp)
        (tmp / _MARKER).write_text(json.dumps(marker, sort_keys=True))
        try:
            os.rename(tmp, out_dir)  # atomic; also succeeds over an empty directory
        except OSError:
            if _is_complete(out_dir, marker):  # a concurrent builder won the race
                shutil.rmtree(tmp)
                return out_dir
            shutil.rmtree(out_dir)  # ours, but from another recipe or seed
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _patch_json(path: Path, **extra) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **extra}, indent=2) + "\n")


def _train_bpe(pad_to: int | None = None):
    """Byte-level BPE (~2000 tokens) on the built-in corpus; optionally padded to `pad_to` ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    # Specials get ids 0, 1, 2; the full byte alphabet means any text encodes without <unk>.
    trainer = trainers.BpeTrainer(
        vocab_size=2000, special_tokens=[ENDOFTEXT, IM_START, IM_END], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    text = _CORPUS + _WORDS + _WORDS.title()  # title(): "Hello" is a token as well as "hello"
    backend.train_from_iterator(text.splitlines(), trainer)
    if pad_to is None:
        return backend
    # Dummy weights sample any id, and the detokenizer must decode each one. Extra vocab entries
    # that no merge produces are never emitted by encode but decode fine; "Ġw123" reads " w123".
    spec = json.loads(backend.to_str())
    vocab, i = spec["model"]["vocab"], 0
    while len(vocab) < pad_to:
        vocab.setdefault(f"Ġw{i}", len(vocab))
        i += 1
    if len(vocab) != pad_to:
        raise ValueError(f"trained vocabulary ({len(vocab)}) exceeds vocab_size {pad_to}")
    return Tokenizer.from_str(json.dumps(spec))


def _save_tokenizer(backend, out_dir: Path, max_len: int) -> None:
    """Save as a transformers fast tokenizer with the ChatML template (transformers 4.x and 5.x)."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=IM_END, pad_token=ENDOFTEXT, model_max_length=max_len
    )
    tok.chat_template = CHATML_TEMPLATE
    tok.save_pretrained(out_dir)
    # Qwen2Tokenizer, like real Qwen checkpoints: 4.x loads tokenizer.json as is, and 5.x rebuilds
    # the same pipeline (the "TokenizersBackend" name that 5.x writes is unknown to 4.x).
    # The template also goes inline, for versions that do not read chat_template.jinja.
    _patch_json(out_dir / "tokenizer_config.json", tokenizer_class="Qwen2Tokenizer",
                chat_template=CHATML_TEMPLATE)


def _save_config(config, out_dir: Path, backend, dtype: str, rope_theta: float) -> None:
    """Write config.json and generation_config.json (last: model.save_pretrained writes its own)."""
    from transformers import GenerationConfig

    config.save_pretrained(out_dir)
    # transformers 5 writes `dtype` and nests rope_theta in `rope_parameters`; older readers
    # (transformers 4.x under older vLLM) look for the flat keys and would silently use defaults.
    _patch_json(out_dir / "config.json", torch_dtype=dtype, rope_theta=rope_theta)
    eos, pad = backend.token_to_id(IM_END), backend.token_to_id(ENDOFTEXT)
    # vLLM takes default stop ids from here; Qwen lists both end tokens the same way.
    GenerationConfig(eos_token_id=[eos, pad], pad_token_id=pad).save_pretrained(out_dir)


def write_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2ForCausalLM + trained BPE tokenizer to `out_dir`; return it."""

    def build(tmp: Path) -> None:
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM

        backend = _train_bpe()
        _save_tokenizer(backend, tmp, max_len=2048)
        # head_dim = 128 / 2 heads = 64, the smallest vLLM's CPU attention accepts; 1 KV head
        # keeps grouped-query attention as in the real models. The vocabulary is a multiple of 64
        # like real checkpoints: the ids past the tokenizer decode to "".
        config = Qwen2Config(
            vocab_size=-(-backend.get_vocab_size() // 64) * 64, hidden_size=128,
            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            intermediate_size=256, max_position_embeddings=2048, rope_theta=10000.0,
            tie_word_embeddings=True, eos_token_id=backend.token_to_id(IM_END),
            pad_token_id=backend.token_to_id(ENDOFTEXT),
        )
        config.architectures = ["Qwen2ForCausalLM"]
        config.dtype = "float32"  # attribute, not kwarg: transformers < 4.56 calls it torch_dtype
        # fork_rng: deterministic weights without disturbing the caller's global RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Qwen2ForCausalLM(config).to(torch.float32).eval()
        model.save_pretrained(tmp)  # safetensors; the tied lm_head is stored once
        _save_config(model.config, tmp, backend, dtype="float32", rope_theta=10000.0)

    return _publish(out_dir, {"kind": "tiny", "seed": seed, "version": _RECIPE_VERSION}, build)


# Production shapes, from each model's public config.json. Weights are never written.
SHAPES: dict[str, tuple[str, dict]] = {
    "qwen2.5-7b": ("Qwen2", dict(
        hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
        intermediate_size=18944, vocab_size=152064, max_position_embeddings=32768,
        rms_norm_eps=1e-6, tie_word_embeddings=False, max_window_layers=28)),
    "qwen3-14b": ("Qwen3", dict(
        hidden_size=5120, num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=8,
        head_dim=128, intermediate_size=17408, vocab_size=151936, max_position_embeddings=40960,
        rms_norm_eps=1e-6, tie_word_embeddings=False, max_window_layers=40)),
}


def write_shape_model(out_dir: Path, shape: str) -> Path:
    """Write config.json + tokenizer with production shapes (no weights) for load_format="dummy"."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {sorted(SHAPES)}")
    family, params = SHAPES[shape]

    def build(tmp: Path) -> None:
        import transformers

        # len(tokenizer) == vocab_size: every id a dummy-weight model can sample has a token.
        backend = _train_bpe(pad_to=params["vocab_size"])
        _save_tokenizer(backend, tmp, max_len=params["max_position_embeddings"])
        pad = backend.token_to_id(ENDOFTEXT)
        config = getattr(transformers, f"{family}Config")(
            **params, rope_theta=1e6, bos_token_id=pad, pad_token_id=pad,
            eos_token_id=backend.token_to_id(IM_END))
        config.architectures = [f"{family}ForCausalLM"]
        config.dtype = "bfloat16"
        _save_config(config, tmp, backend, dtype="bfloat16", rope_theta=1e6)

    return _publish(out_dir, {"kind": "shape", "shape": shape, "version": _RECIPE_VERSION}, build)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.models.synthetic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tiny = sub.add_parser("tiny", help="tiny random Qwen2 model for CPU tests")
    tiny.add_argument("--seed", type=int, default=0)
    shape = sub.add_parser("shape", help="config + tokenizer of a real model for load_format=dummy")
    shape.add_argument("shape", choices=sorted(SHAPES))
    for p in (tiny, shape):
        p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    path = (write_tiny_model(args.out, seed=args.seed) if args.command == "tiny"
            else write_shape_model(args.out, args.shape))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
