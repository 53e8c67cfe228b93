"""Post-processing of one raw model output for one segment: removing what models wrap around a translation.

Instruct models (Qwen2.5) add lead-ins, quotes and notes; reasoning models (Qwen3) add <think> blocks;
small base models prompted few-shot (Gemma 3 270M) keep writing the next example. Each step is a small
function returning (text, changed), so clean() reports what it did as flags; flags never block, the
caller decides (retry, log, show). Pass source and output in the same form: both masked (⟦n⟧, the
recommended order: clean, then restore) or both restored.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from app.translate import languages
from app.translate.languages import dominant_script
from app.translate.segment import protect, restore


@dataclass(frozen=True)
class Cleaned:
    text: str
    flags: list[str]


_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_TAIL = re.compile(r"^.*?</(?:think|thinking|reasoning)>", re.S | re.I)  # <think> was in the prompt
_THINK_OPEN = re.compile(r"\s*<(?:think|thinking|reasoning)>", re.I)


def strip_think(text: str) -> tuple[str, bool]:
    new = _THINK_TAIL.sub("", _THINK_BLOCK.sub("", text), count=1)
    if _THINK_OPEN.match(new):  # never closed: the budget ran out mid-reasoning, no answer came
        new = ""
    return new.strip(), new.strip() != text.strip()


_LABEL_WORDS = [
    "Source",
    "Target",
    "Input",
    "Output",
    "Original",
    "Translation",
    "Translated text",
    "Result",
    "Answer",
    "Text",
    "User",
    "Assistant",
    "Human",
    "Question",
    "Simplified Chinese",
    "Traditional Chinese",
    "Mandarin",
    "原文",
    "译文",
    "翻译",
    "翻译结果",
    "中文",
    "英文",
    "日文",
    "德文",
    "法文",
    "韩文",
    "英语",
    "汉语",
    "日语",
    "訳文",
    "翻訳",
    "번역",
]
_NAMES = sorted(
    {lang["name"].split(" (")[0] for lang in languages.all_languages()} | set(_LABEL_WORDS), key=len, reverse=True
)
# "English:", "**German translation:**", "## Chinese (Simplified):", "Q:" — a few-shot turn or a label.
_LABEL = re.compile(
    r"[ \t]*(?:#+[ \t]*|>[ \t]*)?\**[ \t]*(?:in[ \t]+)?(?P<label>(?:"
    + "|".join(map(re.escape, _NAMES))
    + r")(?:[ \t]*\([^)\n]*\))?(?:[ \t]+(?:text|translation|version))?|(?-i:Q|A))"
    + r"[ \t]*\**[ \t]*[:：][ \t]*\**",
    re.I,
)
_COURTESY = r"(?:(?:sure|certainly|of course|okay|ok|absolutely|alright|no problem|好的|当然|没问题)[!.,，。！~]*\s*)?"
_LEAD_IN = re.compile(
    _COURTESY + r"(?:(?:here(?:'s| is| are)|below is|the following is)\b[^\n:：]{0,120}"
    r"|[^\n:：]{0,60}(?:\btranslat(?:ion|ed|e)\b|traduction|übersetzung|traducción|tradução|traduzione"
    r"|vertaling|перевод|tłumaczenie|překlad|çeviri|terjemahan|översättning|bản dịch)[^\n:：]{0,60}"
    r"|[^\n:：]{0,20}(?:翻译|译文|翻訳|訳文|번역)[^\n:：]{0,20})[:：][ \t]*\**",
    re.I,
)
# "The translation of "早上好" in English is "Good morning"." / "“早上好”的英文翻译是“Good morning”。"
_IS_FORM = re.compile(
    r"(?:the\s+)?(?:\w+\s+)?translation\s+of\s+.{1,80}?\s+(?:in|into|to)\s+\w+\s+is\s*[:：]?\s*"
    r"|[“\"「].{1,80}?[”\"」]的?\w{0,4}翻译(?:是|为)[:：]?\s*",
    re.I,
)
_NOTE = re.compile(
    r"\s*[(（\[*_]*\s*(?:notes?|explanation|translation notes?|translator'?s note|please note|"
    r"注|备注|译注)\s*[:：]|\s*[(（]?(?:this|the above) translation\b"
    r"|\s*(?:I hope this helps|Let me know if|If you (?:need|have|want)|Feel free to)",
    re.I,
)
_INLINE_NOTE = re.compile(r"\s*[(（](?:note|注)\s*[:：][^()（）\n]*[)）]\s*$", re.I)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def strip_chatter(text: str, source: str = "") -> tuple[str, bool]:
    """Lead-ins ("Here is the translation:", "以下是翻译：", "German:") and trailing notes."""
    new, head = text.strip(), _first_line(source)
    for _ in range(3):  # "Sure! Here's the translation:\n\n**Translation:** ..." takes more than one pass
        m = _LEAD_IN.match(new) or _LABEL.match(new) or _IS_FORM.match(new)
        if not m:
            break
        rest = new[m.end() :]
        # A lead-in is chatter only if the source had none like it: "Here is the list:" is a sentence.
        own_line = rest[:1] in ("\n", "\r") or not rest.strip()
        if not rest.strip() or (head.endswith((":", "：")) if own_line else (":" in head or "：" in head)):
            break
        new = rest.strip()
    lines = new.split("\n")
    if not any(_NOTE.match(line) for line in source.split("\n")) and not _INLINE_NOTE.search(source.strip()):
        cut = next((i for i in range(1, len(lines)) if _NOTE.match(lines[i])), len(lines))
        lines = lines[:cut]
        while len(lines) > 1 and not lines[-1].strip(" \t-*_="):  # the "---" before a note
            lines.pop()
        lines[-1] = _INLINE_NOTE.sub("", lines[-1]) if _INLINE_NOTE.sub("", lines[-1]).strip() else lines[-1]
    new = "\n".join(lines).strip()
    return new, new != text.strip()


_ECHO_SEP = re.compile(r"\s*\n\s*|\s*(?:->|→|=>|⇒|=)\s*|\s+[-–—|]\s+|[:：]\s*")


def strip_echo(text: str, source: str) -> tuple[str, bool]:
    """Drop the source when the model repeated it before its translation ("Good morning\\nGuten Morgen")."""
    src, text = source.strip(), text.strip()
    if not src or not text.startswith(src):
        return text, False
    rest = text[len(src) :]
    sep = _ECHO_SEP.match(rest)
    if not sep and rest[:1].isspace() and dominant_script(rest) not in (None, dominant_script(src)):
        sep = re.match(r"\s+", rest)  # "Good morning 早上好": a change of script is separator enough
    if not sep or not rest[sep.end() :].strip():
        return text, False
    return rest[sep.end() :].strip(), True


_LABEL_LIKE = re.compile(r"\s*[^\s:：][^:：\n]{0,30}[:：]")
_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>|<(?:end|start)_of_turn>|</s>|<eos>")


def cut_continuation(text: str, source: str) -> tuple[str, bool]:
    """Cut where a base model starts the next few-shot turn, and lines beyond the source's count."""
    new = _SPECIAL_TOKEN.split(text, 1)[0]
    # A source with "Label:" lines of its own (a dialogue, a form) keeps its labels; the line budget still applies.
    labelled = any(_LABEL_LIKE.match(line) for line in source.split("\n"))
    kept, content_lines = [], 0
    budget = max(1, sum(1 for line in source.split("\n") if line.strip()))
    for line in new.strip().split("\n"):
        if content_lines and not labelled and _LABEL.match(line):
            break  # "English: Thank you." after the answer: the model is writing the next example
        if line.strip():
            if content_lines == budget:
                break
            content_lines += 1
        kept.append(line)
    new = "\n".join(kept).strip()
    return new, new != text.strip()


_QUOTES = {'"': '"', "“": "”", "„": "“", "「": "」", "『": "』", "'": "'", "‘": "’", "`": "`", "«": "»"}
_FENCED = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)\n?```", re.S)
_SENTENCE_END = (".", "。", "!", "！", "?", "？", "…")


def strip_quotes(text: str, source: str) -> tuple[str, bool]:
    """Remove quotes, backticks or a code fence wrapped around the whole output, unless the source had them."""
    src, new = source.strip(), text.strip()
    if src[:1] in _QUOTES or src.startswith("```"):
        return new, False
    while True:
        fenced = _FENCED.fullmatch(new)
        close = _QUOTES.get(new[:1])
        m = re.fullmatch(rf"{re.escape(new[:1])}(.*){re.escape(close)}([.。!！?？]?)", new, re.S) if close else None
        if fenced:
            new = fenced[1].strip()
        elif m and new[:1] not in m[1] and close not in m[1]:  # one pair around everything, not "A" and "B"
            inner = m[1].strip()
            # A period outside the quotes ('"Good morning".') belongs to the text only if the source ends a sentence.
            new = inner + (m[2] if m[2] and src.endswith(_SENTENCE_END) and not inner.endswith(_SENTENCE_END) else "")
        else:
            return new, new != text.strip()


_CJK_LETTER = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = _CJK_LETTER + "\u3000-\u303f\uff00-\uffef"  # letters plus CJK and full-width punctuation
_CJK_NEXT = re.compile(rf"[ \t]*[{_CJK_LETTER}]")
_TO_FULL = {",": "，", ".": "。", "?": "？", "!": "！", ":": "：", ";": "；"}
_TO_ASCII = {
    "。": ".",
    "、": ",",
    "「": '"',
    "」": '"',
    "『": '"',
    "』": '"',
    "【": "[",
    "】": "]",
    "　": " ",
    "……": "...",
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
}
_ASCII_SOURCE = re.compile("……|[" + re.escape("".join(k for k in _TO_ASCII if len(k) == 1)) + "]")


def _to_full_width(text: str) -> str:
    text = re.sub(rf"\(([^()\n]*[{_CJK_LETTER}][^()\n]*)\)", r"（\1）", text)
    text = re.sub(rf"(?<=[{_CJK_LETTER}])\.{{3,}}", "……", text)
    mostly_cjk = dominant_script(text) in ("han", "japanese")

    def swap(m: re.Match) -> str:
        before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
        if "." in (before, after) or (
            re.match(r"[0-9A-Za-z]", after) and (m[0] == "." or re.match(r"[0-9A-Za-z]", before))
        ):
            return m[0]  # "...", "3.14", "file.txt", "12:30", "a,b"
        if re.match(rf"[{_CJK}]", before) or _CJK_NEXT.match(text, m.end()):
            return _TO_FULL[m[0]]
        return _TO_FULL[m[0]] if mostly_cjk and not text[m.end() :].strip() and m[0] in ".!?" else m[0]

    text = re.sub(r"[,.?!:;]", swap, text)
    text = re.sub(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])", "", text)
    return re.sub(r"(?<=[，。！？：；、（])[ \t]+|[ \t]+(?=[，。！？：；、）])", "", text)


def _to_ascii(text: str) -> str:
    def swap(m: re.Match) -> str:
        out = _TO_ASCII[m[0]]
        before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
        if out in ",.!?:;)" and after.isalnum() and not (before.isdigit() and after.isdigit()):
            out += " "  # "好，world" -> ", world"; "３．１４" stays a number
        return " " + out if out == "(" and before.isalnum() else out

    return re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", _ASCII_SOURCE.sub(swap, text))


def normalize_punctuation(text: str, target_lang: str) -> str:
    """Full-width punctuation and no inner spaces for Chinese/Japanese, ASCII punctuation for the rest.

    URLs, e-mails, code and placeholders are masked first, so "3.14" and "https://a.b/c?d=1" survive.
    """
    masked = protect(text)
    family = languages.script_family(target_lang)
    converted = _to_full_width(masked.text) if family in ("han", "japanese") else _to_ascii(masked.text)
    return restore(converted, masked.slots)[0]


# Characters per unit of meaning, to compare lengths across scripts: English runs ~3-4x Chinese.
_CHARS_PER_UNIT = {"han": 1.0, "japanese": 1.5, "hangul": 1.5, "thai": 3.0, "arabic": 3.0}


def _units(text: str) -> float:
    return sum(not c.isspace() for c in text) / _CHARS_PER_UNIT.get(dominant_script(text) or "", 3.5)


def _loose(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _copied(source: str, text: str) -> bool:
    """Most words of the output are the source's own words: the model copied instead of translating."""
    src, out = set(re.findall(r"[^\W\d_]{2,}", source.casefold())), re.findall(r"[^\W\d_]{2,}", text.casefold())
    return len(out) >= 4 and sum(w in src for w in out) >= 0.8 * len(out)


def quality_flags(source: str, text: str, target_lang: str) -> list[str]:
    """empty, untranslated, length_ratio: signals for the caller, the text is left as it is."""
    has_letters = dominant_script(source) is not None
    if not text.strip():
        return ["empty"] if has_letters else []
    if not has_letters:
        return []
    group = {"japanese": "han"}  # kanji-heavy Japanese and Chinese are hard to tell apart: don't try
    src, out = (group.get(s, s) for s in (dominant_script(source), dominant_script(text)))
    target = group.get(languages.script_family(target_lang), languages.script_family(target_lang))
    flags = []
    if _loose(text) == _loose(source) or (out == src != target) or (src == target and _copied(source, text)):
        flags.append("untranslated")
    units_in, units_out = _units(source), _units(text)
    if not 0.2 <= units_out / max(units_in, 1e-9) <= 5 and abs(units_out - units_in) > 6:
        flags.append("length_ratio")
    return flags


_EDGE = "A-Za-z0-9\u00c0-\u024f\u0400-\u04ff"  # word characters of scripts that put spaces between words


def _term(term: str) -> re.Pattern:
    left = rf"(?<![{_EDGE}])" if re.match(rf"[{_EDGE}]", term) else ""
    right = rf"(?![{_EDGE}])" if re.match(rf"[{_EDGE}]", term[-1:]) else ""
    return re.compile(left + re.escape(term) + right, re.I)


def check_glossary(source: str, output: str, glossary: dict[str, str]) -> tuple[str, list[str]]:
    """Each glossary term in the source needs its translation in the output.

    Repaired only when safe: the model copied the source term verbatim, and that copy is not part of
    another required translation. Longer terms first, so "Ray Serve" wins over "Ray".
    """
    text, flags = output, []
    for term, required in sorted(glossary.items(), key=lambda kv: -len(kv[0])):
        if not term or not required or not _term(term).search(source) or _term(required).search(text):
            continue
        taken = [m.span() for other in glossary.values() if other != required for m in _term(other).finditer(text)]
        copies = [m for m in _term(term).finditer(text) if not any(s < m.end() and m.start() < e for s, e in taken)]
        if not copies or term.casefold() == required.casefold():
            flags.append(f"glossary_missing:{term}")
            continue
        for m in reversed(copies):
            text = text[: m.start()] + required + text[m.end() :]
        flags.append(f"glossary_repaired:{term}")
    return text, flags


def html_text(text: str) -> str:
    """A translation of HTML-format text, as HTML. Its markup travels in placeholders (protect masks
    tags and character references), so any < > & the output holds came from the model or a glossary
    value (`<img onerror=...>`): text, escaped. It renders as the same characters."""
    return html.escape(text, quote=False)


def clean(
    source: str, output: str, target_lang: str, glossary: dict[str, str] | None = None, fmt: str = "plain"
) -> Cleaned:
    """The model's translation of `source` out of its raw `output`, with flags saying what was wrong.
    `fmt` is the format of the source's unit: an "html" translation comes back escaped (html_text)."""
    target = languages.normalize(target_lang)
    text, think = strip_think(output)
    chatter = echo = False
    for _ in range(3):  # "English: Good morning\nGerman: Guten Morgen": label, echo, label again
        text, removed = strip_chatter(text, source)
        text, echoed = strip_echo(text, source)
        chatter, echo = chatter or removed, echo or echoed
        if not (removed or echoed):
            break
    text, fenced = strip_quotes(text, source)  # first too: a fence spans lines the line budget would cut
    text, cut = cut_continuation(text, source)
    text, quoted = strip_quotes(text, source)
    quoted = quoted or fenced
    flags = [
        flag
        for flag, on in (
            ("chatter_removed", think or chatter),
            ("echo_removed", echo),
            ("truncated_continuation", cut),
            ("quotes_removed", quoted),
        )
        if on
    ]
    if glossary:  # before the punctuation pass, which then tidies around a repaired term
        text, glossary_flags = check_glossary(source, text, glossary)
        flags += glossary_flags
    text = normalize_punctuation(text, target).strip()
    flags += quality_flags(source, text, target)
    return Cleaned(html_text(text) if fmt == "html" else text, flags)
