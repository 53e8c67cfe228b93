"""The service's parts in one process, without Ray Serve: `LocalHandle` gives a plain object the call
shape of a DeploymentHandle (`handle.method.remote(...)`, `handle.options(...)`), so the Translator,
the API's ServerState and the batch job's engine actors drive an in-process LLMReplica and
PostProcessor exactly as they drive deployments. `NullMetrics` stands in for the router's metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NullMetrics:
    """The Translator reports to router metrics; a batch job has its own summary instead."""

    def observe_memory(self, *args, **kwargs) -> None:
        pass

    def observe_error(self, *args, **kwargs) -> None:
        pass


class _Method:
    def __init__(self, fn: Callable):
        self._fn = fn

    def remote(self, *args, **kwargs):
        return self._fn(*args, **kwargs)


class LocalHandle:
    """Gives an in-process object the call shape of a DeploymentHandle: `handle.method.remote(...)`
    returns an awaitable. `rewrite` may adjust each GenerateRequest (the benchmark fixes the output
    length with it)."""

    def __init__(self, target: Any, rewrite: Callable | None = None):
        self._target = target
        self._rewrite = rewrite

    def options(self, **_: Any) -> LocalHandle:
        """Serve's `handle.options(stream=True)`: an in-process generator streams by itself."""
        return self

    def __getattr__(self, name: str) -> _Method:
        fn = getattr(self._target, name)
        if name == "complete" and self._rewrite is not None:
            rewrite = self._rewrite
            return _Method(lambda req: fn(rewrite(req)))
        return _Method(fn)
