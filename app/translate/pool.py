"""A few threads for a request's CPU-heavy steps (segmenting and masking, parsing and rebuilding
files), so that they run off the router's event loop: /health, streams and other requests go on
meanwhile, and the gate's timeout can still answer 504.

The pool is small and owned by its user (the Translator), not global: many heavy requests queue for
its threads instead of each taking one. Cancelling the awaiting coroutine (the gate's timeout, a
client gone) drops work that has not started; work already running cannot be interrupted from
outside, so long loops take a `threading.Event` and stop when the caller sets it. Either way the
outcome of abandoned work is discarded, never left for asyncio to report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Abandoned(Exception):
    """Raised by work that saw its stop event set: its caller is gone, nobody reads the outcome."""


class CpuPool:
    def __init__(self, threads: int, name: str = "fanyi-cpu"):
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args) -> T:
        """`fn(*args)` on one of the pool's threads, awaited; cancellable while it waits for a thread."""
        # wrap_future cancels the thread's future when the awaiting one is cancelled; once cancelled,
        # the thread's late result or exception is not copied over.
        return await asyncio.wrap_future(self._executor.submit(fn, *args))
