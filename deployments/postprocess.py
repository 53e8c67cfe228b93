"""PostProcessor: the pure cleanup of app/translate/postprocess.py behind its own deployment, so it scales and
fails apart from the router and the GPUs.

The router calls `clean` once per translated piece. If this deployment is down, the router keeps
serving the raw model output with a `postprocess_unavailable` flag instead of failing the request.
"""

from __future__ import annotations

from app.translate.postprocess import clean_piece


class PostProcessor:
    async def clean(
        self,
        source: str,
        output: str,
        target_lang: str,
        glossary: dict[str, str] | None,
        slots: dict[str, str],
        fmt: str = "plain",
    ) -> dict:
        return clean_piece(source, output, target_lang, glossary, slots, fmt)
