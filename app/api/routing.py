"""Which replicas a request's `model` goes to: every served name (base models and their LoRA
adapters) mapped to its base model's DeploymentHandles, prompt style and adapter."""

from __future__ import annotations

from typing import Any

from app.config import AppConfig
from app.errors import ModelNotFound
from app.translate.translator import Route


class ModelRoutes:
    def __init__(self, config: AppConfig, handles: dict[str, Any]):
        """`handles`: base model name -> its DeploymentHandle (or anything with the same methods)."""
        self.routes = config.routes()  # served name -> (base model, adapter or None)
        self.default = config.models[0].name
        self.handles = handles
        # Built once: `.options()` per request costs a handle copy on the latency path.
        self.streams = {name: h.options(stream=True) for name, h in handles.items()}

    def resolve(self, name: str | None, pair: tuple[str, str] | None = None) -> Route:
        """A named model or adapter; with no name, the default model, or one of its adapters tuned for
        the translation's language `pair`. Raises ModelNotFound listing the served names."""
        if name is None and pair is not None:
            base = self.routes[self.default][0]
            name = next((a.name for a in base.adapters if a.covers(*pair)), None)
        name = name or self.default
        found = self.routes.get(name)
        if found is None:
            known = ", ".join(sorted(self.routes))
            raise ModelNotFound(f"The model '{name}' does not exist. Available models: {known}", param="model")
        model, adapter = found
        style = (adapter.prompt_style if adapter else None) or model.prompt_style
        return Route(
            name=name, handle=self.handles[model.name], prompt_style=style, adapter=adapter.name if adapter else None
        )

    def stream_handle(self, route: Route) -> Any:
        """The streaming handle of the route's base model."""
        return self.streams[self.routes[route.name][0].name]

    def cards(self) -> list[tuple[str, str, str | None]]:
        """(served name, weights folder or id, parent model or None) of every served name."""
        return [
            (name, adapter.path if adapter else model.source, model.name if adapter else None)
            for name, (model, adapter) in self.routes.items()
        ]
