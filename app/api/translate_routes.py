"""The translation routes, bound to their serving logic (app/api/translate_serving.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from app.api import openapi_docs as docs
from app.api import protocol
from app.api.gate import FILE_ROUTE
from app.api.server_state import ServerState, state
from app.errors import RequestTooLarge
from app.translate import languages

router = APIRouter()


@router.post("/v1/translate", responses=docs.TRANSLATE)
async def translate(body: protocol.TranslateRequest, server: ServerState = Depends(state)) -> Response:
    """Translate a text or a list of segments; JSON, or server-sent events with `stream: true`."""
    return await server.translation.translate(body)


@router.post(FILE_ROUTE, responses=docs.TRANSLATE_FILE, response_class=Response)
async def translate_file(
    file: UploadFile = File(description="A .txt, .md, .srt, .html or .docx file."),
    target_lang: str = Form(),
    source_lang: str | None = Form(None),
    model: str | None = Form(None),
    glossary: str | None = Form(None, description="A JSON object of term -> translation."),
    server: ServerState = Depends(state),
) -> Response:
    """Translate an uploaded file; the answer is the same file, translated, structure intact."""
    for param, value in (
        ("target_lang", target_lang),
        ("source_lang", source_lang),
        ("model", model),
        ("glossary", glossary),
        ("file", file.filename),
    ):
        protocol.check_encodable(param, value)
    limits = server.config.limits
    data = await file.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise RequestTooLarge(f"file exceeds {limits.max_file_bytes} bytes", param="file", code="file_too_large")
    return await server.translation.translate_file(
        file.filename or "upload.txt",
        data,
        target_lang,
        source_lang or None,
        model or None,
        glossary,
        limits.max_file_units,
    )


@router.get("/v1/languages", responses=docs.LANGUAGES)
async def list_languages() -> dict:
    return {"object": "list", "data": languages.all_languages()}
