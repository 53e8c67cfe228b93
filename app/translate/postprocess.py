"""Post-processing of one translated piece: cleanup (app/translate/cleanup.py), then the masked originals put
back. Pure functions: the PostProcessor deployment (deployments/postprocess.py) serves them, and the
translator calls `restore_placeholders` itself for memory hits and when that deployment is down.
"""

from __future__ import annotations

from app.translate import cleanup, segment


def restore_placeholders(text: str, slots: dict[str, str]) -> tuple[str, list[str]]:
    """Put the masked originals back. One the model dropped is appended rather than lost (a URL or a
    tag is worth more than a tidy sentence) and flagged `placeholder_missing`."""
    restored, missing = segment.restore(text, slots)
    if not missing:
        return restored, []
    return " ".join([restored, *(slots[key] for key in missing)]).strip(), ["placeholder_missing"]


def clean_piece(
    source: str,
    output: str,
    target_lang: str,
    glossary: dict[str, str] | None,
    slots: dict[str, str],
    fmt: str = "plain",
) -> dict:
    """Clean one raw output of the masked `source` (from a unit of format `fmt`), then put the
    placeholders back. `masked` is kept too: the translation memory stores it and restores other slot
    values later."""
    cleaned = cleanup.clean(source, output, target_lang, glossary, fmt)
    masked, flags = cleaned.text, cleaned.flags
    if not masked:  # nothing usable came back: keep the source in place rather than drop content
        masked, flags = source, sorted(set(flags) | {"empty", "untranslated"})
    text, missing = restore_placeholders(masked, slots)
    return {"text": text, "masked": masked, "flags": flags + missing}
