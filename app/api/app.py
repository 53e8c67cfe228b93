"""create_app: the FastAPI application over one ServerState: the gate around every request, the
error handlers, and the routes of each feature (OpenAI, translation, system)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api import openai_routes, system_routes, translate_routes
from app.api.error_handlers import install_error_handlers
from app.api.gate import Gate
from app.api.server_state import ServerState


def create_app(server: ServerState) -> FastAPI:
    app = FastAPI(
        title="fanyi",
        summary="Self-hosted machine translation over vLLM and Ray Serve, with an OpenAI-compatible API.",
        version="0.1.0",
    )
    app.state.fanyi = server
    app.add_middleware(Gate, settings=server.gate)  # keys, rate limits, sizes, deadlines, origins
    install_error_handlers(app, server.metrics)
    for feature in (openai_routes, translate_routes, system_routes):
        app.include_router(feature.router)
    return app
