"""Translation prompts: the one place a prompt is written, used by the service, the batch job and
fine-tuning alike.

Instruct models get chat messages (their chat template is applied by the replica). Base models such
as the embedded Gemma 3 270M cannot follow instructions, so they get a few-shot completion prompt
that they continue by one line; `stop` ends the generation at that line's end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.translate import languages

# The same sentences in several languages; a few-shot prompt for any pair of these takes its
# examples from here. Short everyday sentences: small base models copy the length of the examples.
_EXAMPLES: dict[str, tuple[str, ...]] = {
    "en": ("Thank you very much.", "The weather is nice today.", "Where is the train station?"),
    "zh": ("非常感谢。", "今天天气很好。", "火车站在哪里？"),
    "zh-Hant": ("非常感謝。", "今天天氣很好。", "火車站在哪裡？"),
    "de": ("Vielen Dank.", "Das Wetter ist heute schön.", "Wo ist der Bahnhof?"),
    "fr": ("Merci beaucoup.", "Il fait beau aujourd'hui.", "Où est la gare ?"),
    "es": ("Muchas gracias.", "Hoy hace buen tiempo.", "¿Dónde está la estación de tren?"),
    "ja": ("どうもありがとうございます。", "今日はいい天気です。", "駅はどこですか？"),
    "ko": ("정말 감사합니다.", "오늘은 날씨가 좋네요.", "기차역이 어디에 있어요?"),
    "ru": ("Большое спасибо.", "Сегодня хорошая погода.", "Где вокзал?"),
    "it": ("Grazie mille.", "Oggi il tempo è bello.", "Dov'è la stazione?"),
    "pt": ("Muito obrigado.", "O tempo está bom hoje.", "Onde fica a estação de trem?"),
}
_EXAMPLES["zh-Hans"] = _EXAMPLES["zh"]  # `zh` is Simplified Chinese


@dataclass(frozen=True)
class Prompt:
    """Either chat messages or a completion prompt, plus the stop strings that end the answer."""

    messages: list[dict[str, str]] | None = None
    text: str | None = None
    stop: list[str] = field(default_factory=list)


def _glossary_lines(glossary: dict[str, str] | None) -> list[str]:
    return [f"- {src} → {tgt}" for src, tgt in (glossary or {}).items()]


def chat_prompt(text: str, source: str, target: str, glossary: dict[str, str] | None = None) -> Prompt:
    src, tgt = languages.name(source), languages.name(target)
    rules = [
        f"Translate the {src} text below into {tgt}.",
        "Reply with the translation only: no notes, no quotes, no explanations.",
        "Copy placeholders such as ⟦0⟧ unchanged, in the right place.",
    ]
    terms = _glossary_lines(glossary)
    if terms:
        rules.append("Use these translations for these terms:\n" + "\n".join(terms))
    system = "You are a professional translator."
    return Prompt(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": "\n".join(rules) + "\n\n" + text}]
    )


def few_shot_prompt(text: str, source: str, target: str, glossary: dict[str, str] | None = None) -> Prompt:
    src, tgt = languages.name(source), languages.name(target)
    lines: list[str] = []
    terms = (glossary or {}).items()
    if terms:  # as extra examples: the pattern a base model follows best
        lines += [f"{src}: {a}\n{tgt}: {b}\n" for a, b in terms]
    for a, b in zip(_EXAMPLES.get(source, ()), _EXAMPLES.get(target, ())):
        lines.append(f"{src}: {a}\n{tgt}: {b}\n")
    lines.append(f"{src}: {text}\n{tgt}:")
    return Prompt(text="\n".join(lines), stop=["\n"])


def plain_prompt(text: str, source: str, target: str, glossary: dict[str, str] | None = None) -> Prompt:
    """One `Source: text` / `Target:` pair and nothing else: the format `app.finetune` trains adapters
    on. A tuned model needs no examples, and the prompt is a tenth of the few-shot one."""
    src, tgt = languages.name(source), languages.name(target)
    lines = [f"{src}: {a}\n{tgt}: {b}\n" for a, b in (glossary or {}).items()]
    lines.append(f"{src}: {text}\n{tgt}:")
    return Prompt(text="\n".join(lines), stop=["\n"])


PROMPT_STYLES = {"chat": chat_prompt, "few_shot": few_shot_prompt, "plain": plain_prompt}


def translation_prompt(
    style: str, text: str, source: str, target: str, glossary: dict[str, str] | None = None
) -> Prompt:
    """`style` is the model's (or adapter's) `prompt_style` from the config: chat, few_shot or plain."""
    return PROMPT_STYLES[style](text, source, target, glossary)


def single_line(style: str, text: str) -> str:
    """Completion-style prompts end their answer at the first line break, so the text must be one line."""
    return text if style == "chat" else " ".join(text.split("\n"))
