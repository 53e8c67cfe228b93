"""OpenAI's routes, bound to their serving logic (app/api/openai_serving.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from app.api import openapi_docs as docs
from app.api import protocol
from app.api.server_state import ServerState, state

router = APIRouter()


@router.post("/v1/chat/completions", responses=docs.CHAT)
async def chat_completions(body: protocol.ChatCompletionRequest, server: ServerState = Depends(state)) -> Response:
    return await server.openai.chat(body)


@router.post("/v1/completions", responses=docs.COMPLETIONS)
async def completions(body: protocol.CompletionRequest, server: ServerState = Depends(state)) -> Response:
    return await server.openai.completions(body)


@router.get("/v1/models", responses=docs.MODELS)
async def list_models(server: ServerState = Depends(state)) -> dict:
    data = [protocol.model_card(name, server.created, root, parent) for name, root, parent in server.routes.cards()]
    return {"object": "list", "data": data}
