"""Everything one router replica holds, built once from the config and the model handles.

The Router deployment builds it in its constructor (deployments/router.py) and serves the FastAPI app
made from it (app/api/app.py). Nothing here needs Ray Serve: outside Serve, pass objects that have
the handles' methods (`complete.remote`, `generate.remote`, `clean.remote`, `.options`) and a
`status` callable, and serve the app with any ASGI server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from app.api.auth import KeyRing
from app.api.gate import GateSettings
from app.api.health import HealthMonitor
from app.api.metrics import RouterMetrics
from app.api.openai_serving import OpenAIServing
from app.api.rate_limit import RateLimiter
from app.api.routing import ModelRoutes
from app.api.translate_serving import TranslateService
from app.config import AppConfig
from app.translate.memory import TranslationMemory
from app.translate.translator import Translator


@dataclass
class ServerState:
    config: AppConfig
    routes: ModelRoutes
    metrics: RouterMetrics
    keys: KeyRing
    gate: GateSettings
    openai: OpenAIServing
    translation: TranslateService
    health: HealthMonitor
    created: int  # the `created` time of /v1/models

    @classmethod
    def build(
        cls,
        config: AppConfig,
        handles: dict[str, Any],
        postprocessor: Any,
        replica: str,
        status: Callable[[], dict[str, str]],
    ) -> ServerState:
        """`handles`: base model name -> DeploymentHandle; `status`: a blocking call giving each model's
        deployment state (Serve's controller), polled in the background for /health."""
        routes = ModelRoutes(config, handles)
        metrics = RouterMetrics(replica, models=routes.routes)  # the only model labels there will be
        keys, limiter = KeyRing.from_config(config.auth), RateLimiter()  # keys read now, never logged
        limits = config.limits
        translator = Translator(
            TranslationMemory(limits.translation_memory_entries), postprocessor, metrics, max_pieces=limits.max_segments
        )
        return cls(
            config=config,
            routes=routes,
            metrics=metrics,
            keys=keys,
            gate=GateSettings.from_config(config, keys, limiter, metrics),
            openai=OpenAIServing(routes, limits, metrics, limiter),
            translation=TranslateService(translator, routes.resolve, metrics, limiter),
            health=HealthMonitor(status),
            created=int(time.time()),
        )


def state(request: Request) -> ServerState:
    """FastAPI dependency: the state of the app serving this request (create_app put it there)."""
    return request.app.state.fanyi
