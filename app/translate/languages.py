"""The languages fanyi translates between: codes, English names, aliases and a cheap script-based guess.

Codes are BCP-47 tags as clients send them (`zh-CN`, `pt_BR`, `EN`); `normalize` turns each into one
canonical code from the table, so every later step (prompts, caches, metrics) sees one spelling.
The English names double as the labels models use in prompts ("German:"), which is why cleanup.py
reads them to recognise few-shot continuations.
"""

from __future__ import annotations

import re
from collections import Counter

from app.errors import InvalidRequest

# (code, English name, script family). Order is the order shown to clients. `zh` is Chinese in its
# default (Simplified) script; `zh-Hans`/`zh-Hant` are for clients that must pin the script.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("en", "English", "latin"),
    ("zh", "Chinese", "han"),
    ("zh-Hans", "Chinese (Simplified)", "han"),
    ("zh-Hant", "Chinese (Traditional)", "han"),
    ("ja", "Japanese", "japanese"),
    ("ko", "Korean", "hangul"),
    ("de", "German", "latin"),
    ("fr", "French", "latin"),
    ("es", "Spanish", "latin"),
    ("it", "Italian", "latin"),
    ("pt", "Portuguese", "latin"),
    ("ru", "Russian", "cyrillic"),
    ("ar", "Arabic", "arabic"),
    ("hi", "Hindi", "devanagari"),
    ("vi", "Vietnamese", "latin"),
    ("th", "Thai", "thai"),
    ("id", "Indonesian", "latin"),
    ("tr", "Turkish", "latin"),
    ("pl", "Polish", "latin"),
    ("nl", "Dutch", "latin"),
    ("uk", "Ukrainian", "cyrillic"),
    ("cs", "Czech", "latin"),
    ("sv", "Swedish", "latin"),
)
_CODES = {code.lower(): code for code, _, _ in _TABLE}
_NAMES = {code: name for code, name, _ in _TABLE}
_SCRIPTS = {code: script for code, _, script in _TABLE}
# English names are accepted too: clients (and people) often send "Chinese" where a code belongs.
_BY_NAME = {name.lower(): code for code, name, _ in _TABLE} | {
    "simplified chinese": "zh-Hans",
    "traditional chinese": "zh-Hant",
}
# Chinese regions imply a script; every other region is dropped (pt-BR -> pt, en-GB -> en).
_ZH_REGIONS = {"cn": "zh-Hans", "sg": "zh-Hans", "my": "zh-Hans", "tw": "zh-Hant", "hk": "zh-Hant", "mo": "zh-Hant"}
_SUBTAG = re.compile(r"[a-z0-9]{1,8}")


class UnknownLanguage(InvalidRequest, ValueError):
    """A language code fanyi does not support; a 400 for clients, a ValueError for Python callers."""

    code = "unsupported_language"


# Codes are short; a longer one is quoted cut to this, so an error never echoes a client's 15 KB field.
_SHOWN_CHARS = 32


def _unknown(code: object) -> UnknownLanguage:
    valid = ", ".join(c for c, _, _ in _TABLE)
    # repr escapes what could not be printed or encoded (controls, lone surrogates).
    text = code if isinstance(code, str) else repr(code)
    shown = (repr(text[:_SHOWN_CHARS]) if isinstance(code, str) else text[:_SHOWN_CHARS]) + (
        "…" if len(text) > _SHOWN_CHARS else ""
    )
    return UnknownLanguage(f"unsupported language {shown}; supported codes: {valid}")


def normalize(code: str) -> str:
    """The canonical code for `code`: case-insensitive, `_` or `-`, regions folded into the base."""
    if not isinstance(code, str):
        raise _unknown(code)
    key = code.strip().replace("_", "-").lower()
    if key in _CODES:
        return _CODES[key]
    if key in _BY_NAME:
        return _BY_NAME[key]
    base, *subtags = key.split("-")
    if base not in _CODES or not subtags or not all(_SUBTAG.fullmatch(s) for s in subtags):
        raise _unknown(code)
    if base == "zh":  # zh-Hant-TW, zh-TW, zh-hk ...: the script subtag wins, then the region
        for sub in subtags:
            if sub in ("hans", "hant"):
                return "zh-" + sub.title()
        for sub in subtags:
            if sub in _ZH_REGIONS:
                return _ZH_REGIONS[sub]
    return _CODES[base]


def name(code: str) -> str:
    """English name, e.g. "Chinese (Simplified)" for zh-Hans."""
    return _NAMES[normalize(code)]


def all_languages() -> list[dict]:
    return [{"code": code, "name": lang} for code, lang, _ in _TABLE]


def is_cjk(code: str) -> bool:
    """Chinese, Japanese and Korean: the targets whose text is not measured in Latin-sized words."""
    return script_family(code) in ("han", "japanese", "hangul")


def script_family(code: str) -> str:
    """One of latin, cyrillic, arabic, devanagari, thai, han, japanese, hangul (same words as dominant_script)."""
    return _SCRIPTS[normalize(code)]


def char_script(ch: str) -> str | None:
    """The script of one character (kana separately from han), None for digits, punctuation, symbols."""
    o = ord(ch)
    if o < 0x80:
        return "latin" if ch.isalpha() else None
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "kana"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF:
        return "han"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x0400 <= o <= 0x052F:
        return "cyrillic"
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
        return "arabic"
    if 0x0900 <= o <= 0x097F:
        return "devanagari"
    if 0x0E00 <= o <= 0x0E7F:
        return "thai"
    if ch.isalpha() and (o <= 0x024F or 0x1E00 <= o <= 0x1EFF):
        return "latin"
    return None


# One Han/kana/Hangul character carries about as much as a 3-letter stretch of an alphabetic script,
# so "Hello 世界" is Chinese-dominated, not Latin.
_CJK_WEIGHT = 3


def dominant_script(text: str) -> str | None:
    """The script family most of `text` is written in (see script_family), None if it has no letters."""
    counts = Counter(s for s in map(char_script, text) if s)
    if not counts:
        return None
    han, kana = counts.pop("han", 0), counts.pop("kana", 0)
    if han or kana:
        # Japanese always mixes in kana; Chinese never has more than a stray one.
        counts["japanese" if kana * 10 >= han + kana else "han"] = han + kana
    if "hangul" in counts:
        counts["hangul"] *= _CJK_WEIGHT
    for family in ("han", "japanese"):
        if family in counts:
            counts[family] *= _CJK_WEIGHT
    return counts.most_common(1)[0][0]


# Frequent short words per Latin-script language: distinctive enough that the highest count wins.
_STOPWORDS = {
    "en": "the and is are of to in that it with for this was you not have be on what how".split(),
    "de": "der die das und ist nicht ein eine ich zu mit sie es den auf für von sich dem wir auch".split(),
    "fr": "le la les et est des une un du que qui pas je vous nous pour dans avec sur ce il elle l d qu".split(),
    "es": "el la los las y es un una que de en no por para con se lo del al está como pero".split(),
    "it": "il lo la gli le e è un una che di non per con sono del della questo ma come".split(),
    "pt": "o a os as e é um uma que de não para com do da em no na se mas você".split(),
    "nl": "de het een en is van niet dat die ik je we op met voor zijn ook maar wat hoe".split(),
    "sv": "och att det är som en på för med inte jag har av till den de om".split(),
    "id": "yang dan di ini itu dengan untuk tidak ada dari ke saya akan dalam adalah kami".split(),
}
# Letters (almost) only one supported language uses; each occurrence counts double.
_LETTER_HINTS = {
    "vi": "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",
    "tr": "ığş",
    "pl": "łąężźśńć",
    "cs": "řěů",
    "de": "ß",
    "es": "ñ¿¡",
    "pt": "ãõ",
}
_WORD = re.compile(r"[^\W\d_]+")


def _guess_latin(text: str) -> str:
    lower = text.lower()
    scores = Counter()
    for word in _WORD.findall(lower):
        for lang, words in _STOPWORDS.items():
            if word in words:
                scores[lang] += 1
    for lang, letters in _LETTER_HINTS.items():
        scores[lang] += 2 * sum(lower.count(ch) for ch in letters)
    if not scores or scores.most_common(1)[0][1] == 0:
        return "en"
    best = max(scores.values())
    # Ties go to the table's order (English first), which keeps the guess deterministic.
    return next(code for code, _, _ in _TABLE if scores.get(code) == best)


def detect(text: str) -> str:
    """A cheap guess at the language of `text` from its script (and stopwords for Latin); defaults to en."""
    family = dominant_script(text)
    if family == "cyrillic":
        # і ї є ґ are Ukrainian; ы э ъ ё are Russian only.
        uk, ru = sum(text.count(c) for c in "іїєґІЇЄҐ"), sum(text.count(c) for c in "ыэъёЫЭЪЁ")
        return "uk" if uk > ru else "ru"
    if family == "latin":
        return _guess_latin(text)
    return {"han": "zh", "japanese": "ja", "hangul": "ko", "arabic": "ar", "devanagari": "hi", "thai": "th"}.get(
        family or "", "en"
    )
