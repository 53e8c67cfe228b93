"""The readiness answer of GET /health, cached and refreshed in the background by one task.

Asking Serve's controller per request cost a thread and a controller round trip each (p50 2.2 s with
32 callers), and concurrent `serve.status()` calls raced inside Ray (500s). One task per router
replica now asks once a second, one call at a time, and /health answers from the last result: at
most about `interval_s` plus one call old. When no call has succeeded for `stale_after_s` (the
controller is down or too slow), or none yet, /health says 503 `unavailable`: never 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("fanyi.health")

# Serve's deployment states that still serve requests.
SERVING = frozenset({"HEALTHY", "UPSCALING", "DOWNSCALING"})


@dataclass(frozen=True)
class Snapshot:
    """What /health says: `status` is ok, degraded (some model has no serving replica) or unavailable
    (no fresh status from Serve); `age_s` is how old the models' states are."""

    status: str
    models: dict[str, str] = field(default_factory=dict)
    age_s: float | None = None

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503

    def body(self) -> dict:
        age = None if self.age_s is None else round(self.age_s, 3)
        return {"status": self.status, "models": self.models, "age_s": age}


def serve_statuses(app_name: str, deployments: dict[str, str]) -> dict[str, str]:
    """Serve's status of each model's deployment (`deployments`: model name -> deployment name).
    Blocking: it calls the controller."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    found = app.deployments if app else {}
    return {model: found[name].status.value if name in found else "UNKNOWN" for model, name in deployments.items()}


class HealthMonitor:
    def __init__(
        self,
        fetch: Callable[[], dict[str, str]],
        interval_s: float = 1.0,
        stale_after_s: float = 10.0,
        first_wait_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        """`fetch`: a blocking call giving each model's state; it runs in a thread, never two at once."""
        self.fetch = fetch
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self.first_wait_s = first_wait_s
        self.clock = clock
        self._models: dict[str, str] | None = None
        self._fetched_at = 0.0
        self._first = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._failing = False

    def start(self) -> None:
        """Start the refresh task on the running loop; without one (a constructor run off the loop),
        the first `snapshot` starts it."""
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run(), name="fanyi-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def snapshot(self) -> Snapshot:
        self.start()
        if self._models is None:  # just started: the first answer is worth a short wait
            try:
                await asyncio.wait_for(asyncio.shield(self._first.wait()), self.first_wait_s)
            except asyncio.TimeoutError:
                pass
        if self._models is None:
            return Snapshot("unavailable")
        age = self.clock() - self._fetched_at
        if age > self.stale_after_s:
            return Snapshot("unavailable", {m: "UNKNOWN" for m in self._models}, age)
        ok = all(s in SERVING for s in self._models.values())
        return Snapshot("ok" if ok else "degraded", dict(self._models), age)

    async def _run(self) -> None:
        while True:
            try:
                models = await asyncio.to_thread(self.fetch)
                self._models, self._fetched_at = models, self.clock()
                if self._failing:
                    logger.info("model status available again")
                self._failing = False
            except Exception as exc:  # reported as staleness; logged once per outage, not per second
                if not self._failing:
                    logger.warning("model status unavailable: %s", type(exc).__name__, exc_info=exc)
                self._failing = True
            finally:
                self._first.set()
            await asyncio.sleep(self.interval_s)
