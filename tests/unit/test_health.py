"""HealthMonitor: one background refresh at a time, answers from the cache, 503 (never an exception)
when Serve's status cannot be had."""

import asyncio
import threading
import time

from app.api.health import HealthMonitor


class _Serve:
    """A stand-in for `serve.status()`: slow, counted, and racy if called twice at once."""

    def __init__(self, delay: float = 0.05):
        self.delay = delay
        self.calls = 0
        self.running = 0
        self.overlapped = False
        self.fail = False
        self.states = {"tiny": "HEALTHY", "tiny-hf": "HEALTHY"}
        self.lock = threading.Lock()

    def __call__(self) -> dict[str, str]:
        with self.lock:
            self.running += 1
            self.overlapped |= self.running > 1
            self.calls += 1
        try:
            time.sleep(self.delay)
            if self.fail:
                raise RuntimeError("autoscaling_policy is not registered for pickle by value")
            return dict(self.states)
        finally:
            with self.lock:
                self.running -= 1


def test_many_callers_answer_from_one_refresh_loop():
    serve = _Serve(delay=0.2)

    async def main():
        monitor = HealthMonitor(serve, interval_s=0.05)
        started = time.perf_counter()
        first = await monitor.snapshot()  # waits for the first refresh
        assert first.status == "ok" and first.http_status == 200
        assert first.body()["models"] == {"tiny": "HEALTHY", "tiny-hf": "HEALTHY"}
        latencies = []

        async def caller():
            for _ in range(20):
                t = time.perf_counter()
                assert (await monitor.snapshot()).status == "ok"
                latencies.append(time.perf_counter() - t)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(caller() for _ in range(32)))
        elapsed = time.perf_counter() - started
        await monitor.stop()
        return latencies, elapsed

    latencies, elapsed = asyncio.run(main())
    assert max(latencies) < 0.05  # cached: no caller waits for Serve
    assert not serve.overlapped  # one call at a time: the race inside serve.status() cannot happen
    assert serve.calls <= elapsed / 0.25 + 2  # one per refresh, not one per caller (640 callers)


def test_failures_and_staleness_are_503_and_recover():
    serve = _Serve(delay=0.0)
    clock = [0.0]

    async def main():
        monitor = HealthMonitor(serve, interval_s=0.01, stale_after_s=5.0, clock=lambda: clock[0])
        assert (await monitor.snapshot()).status == "ok"
        serve.states["tiny"] = "UNHEALTHY"
        await asyncio.sleep(0.05)
        degraded = await monitor.snapshot()
        assert degraded.status == "degraded" and degraded.http_status == 503
        serve.fail = True
        await asyncio.sleep(0.05)
        assert (await monitor.snapshot()).status == "degraded"  # the last answer, while still fresh
        clock[0] = 6.0
        stale = await monitor.snapshot()
        assert stale.status == "unavailable" and stale.http_status == 503 and stale.age_s >= 5.0
        serve.fail, serve.states["tiny"] = False, "HEALTHY"
        await asyncio.sleep(0.05)
        fresh = await monitor.snapshot()
        await monitor.stop()
        return fresh

    assert asyncio.run(main()).status == "ok"


def test_no_status_yet_is_503_after_a_short_wait():
    serve = _Serve(delay=0.0)
    serve.fail = True

    async def main():
        monitor = HealthMonitor(serve, interval_s=0.01, first_wait_s=0.5)
        snapshot = await monitor.snapshot()
        await monitor.stop()
        return snapshot

    snapshot = asyncio.run(main())
    assert snapshot.status == "unavailable" and snapshot.http_status == 503 and snapshot.body()["models"] == {}
