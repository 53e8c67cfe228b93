"""Routes for operators and browsers: readiness, Prometheus metrics and the web page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api import openapi_docs as docs
from app.api.metrics import CONTENT_TYPE
from app.api.server_state import ServerState, state

# The web page ships inside the package (a wheel carries it: pyproject's package-data).
STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}

router = APIRouter()


@router.get("/health", responses=docs.HEALTH)
async def health(server: ServerState = Depends(state)) -> JSONResponse:
    """200 while every model has a healthy replica; 503 otherwise, or when Serve's status is older
    than 10 s (a readiness probe). Cached: `age_s` says how old it is, normally under 2 s."""
    snapshot = await server.health.snapshot()
    return JSONResponse(snapshot.body(), status_code=snapshot.http_status)


@router.get("/metrics", responses=docs.METRICS, response_class=Response)
async def metrics(server: ServerState = Depends(state)) -> Response:
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    path = STATIC / name
    if name not in {p.name for p in STATIC.iterdir()} or path.suffix not in STATIC_TYPES:
        raise StarletteHTTPException(404, "Not Found")
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix])
