"""Router: the ingress deployment. Each replica builds the server's state from the config and the model
handles (app/api/server_state.py) and serves the FastAPI app made from it (app/api/app.py): routes,
the gate, errors, metrics and health all live in app/api.

`serve.ingress()` without an app defers the app to replica start: Serve calls
`__serve_build_asgi_app__` after the constructor, so the app is built around this replica's own state
rather than pickled at class definition.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from fastapi import FastAPI
from ray import serve

from app.api.app import create_app
from app.api.health import serve_statuses
from app.api.server_state import ServerState
from app.config import AppConfig

logger = logging.getLogger("fanyi.router")


@serve.ingress()
class Router:
    async def __init__(self, models: dict[str, Any], config: dict[str, Any], postprocessor: Any):
        app_config = AppConfig.model_validate(config)
        context = serve.get_replica_context()
        deployments = {m.name: m.deployment_name for m in app_config.models}
        self.state = ServerState.build(
            app_config,
            models,
            postprocessor,
            replica=context.replica_id.unique_id,
            status=functools.partial(serve_statuses, context.app_name, deployments),
        )
        self.state.health.start()  # dies with the replica's process
        keys = self.state.keys
        logger.info("access control: %s", f"{len(keys)} API keys" if keys.enabled else "open (no API keys)")

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.state)
