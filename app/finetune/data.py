"""Training data for app.finetune: parallel text files -> tokenized examples in the service's own prompt
format, with the loss on the target tokens only.

Every check that can fail (missing files, line counts that differ, unknown languages, nothing left after
filtering) runs here, before a model is loaded, and raises DataError with one readable line.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from app.translate import languages, prompts
from app.translate.languages import UnknownLanguage

IGNORE = -100  # the label PyTorch's cross-entropy skips: prompt tokens teach nothing


class DataError(ValueError):
    """Bad training input, reported before any training starts."""


@dataclass(frozen=True)
class Pair:
    text: str
    translation: str
    source: str
    target: str


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE over the prompt, the token ids over the answer


def language(code: str, flag: str) -> str:
    try:
        return languages.normalize(code)
    except UnknownLanguage:
        raise DataError(f"{flag}: unknown language code {code!r} (see /v1/languages)") from None


def read_parallel(src: Path, ref: Path) -> list[tuple[str, str]]:
    """Line N of `src` and line N of `ref` are a pair; both files must have the same number of lines."""
    texts = []
    for path in (src, ref):
        if not path.is_file():
            raise DataError(f"no such file: {path}")
        try:
            texts.append(path.read_text(encoding="utf-8").splitlines())
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    a, b = texts
    if len(a) != len(b):
        raise DataError(f"{src} has {len(a)} lines but {ref} has {len(b)}: the files must be line-aligned")
    if not a:
        raise DataError(f"{src} is empty")
    return [(x.strip(), y.strip()) for x, y in zip(a, b)]


def pairs_from_files(files: list[tuple[Path, Path]], source: str, target: str, both_directions: bool) -> list[Pair]:
    out = []
    for src, ref in files:
        for text, translation in read_parallel(src, ref):
            out.append(Pair(text, translation, source, target))
            if both_directions:
                out.append(Pair(translation, text, target, source))
    return out


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def clean_pairs(pairs: list[Pair], max_chars: int = 400) -> list[Pair]:
    """Drop empty, copied, overlong and wildly mismatched pairs, and repeats (first one kept)."""
    seen, out = set(), []
    for p in pairs:
        if not p.text or not p.translation or len(p.text) > max_chars or len(p.translation) > max_chars:
            continue
        if _key(p.text) == _key(p.translation):
            continue
        # Characters per sentence differ ~3x between Chinese and English; 9x means misaligned lines.
        ratio = len(p.translation) / len(p.text)
        if not 1 / 9 <= ratio <= 9:
            continue
        key = (p.source, p.target, _key(p.text), _key(p.translation))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def split_holdout(pairs: list[Pair], fraction: float, seed: int, cap: int = 500) -> tuple[list[Pair], list[Pair]]:
    """A seeded random held-out slice for the dev loss; the rest is training data."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n = min(cap, int(len(pairs) * fraction))
    held = set(order[:n])
    return [p for i, p in enumerate(pairs) if i not in held], [pairs[i] for i in sorted(held)]


def encode(tokenizer, style: str, pair: Pair, end_ids: list[int]) -> Example:
    """The prompt exactly as the service sends it for `style` (app/translate/prompts.py), then the answer."""
    from deployments.llm_replica import render_chat

    text = prompts.single_line(style, pair.text)
    prompt = prompts.translation_prompt(style, text, pair.source, pair.target)
    if prompt.messages is not None:
        prompt_ids = tokenizer.encode(render_chat(tokenizer, prompt.messages), add_special_tokens=False)
        answer = tokenizer.encode(pair.translation, add_special_tokens=False) + end_ids
    else:
        # The service stops completion prompts at the line end, so the answer ends with one.
        prompt_ids = tokenizer.encode(prompt.text, add_special_tokens=True)
        answer = tokenizer.encode(" " + prompts.single_line(style, pair.translation) + "\n", add_special_tokens=False)
    return Example(prompt_ids + answer, [IGNORE] * len(prompt_ids) + answer)


def end_of_answer_ids(tokenizer) -> list[int]:
    """What ends a chat answer: the template's end-of-turn token if it has one, else EOS."""
    for token in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and token in tokenizer.get_vocab():
            return [tid]
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


def encode_all(tokenizer, style: str, pairs: list[Pair], max_tokens: int) -> list[Example]:
    end = end_of_answer_ids(tokenizer)
    examples = [encode(tokenizer, style, p, end) for p in pairs]
    return [e for e in examples if len(e.input_ids) <= max_tokens]
