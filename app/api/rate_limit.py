"""Per-key rate limits: requests per minute and tokens per minute, as token buckets.

Each bucket holds at most one minute's allowance (the burst) and refills continuously. A request
takes one unit of the request bucket when it is admitted. Tokens are charged from the usage the
engine reports after the request (prompt + generated, also for streams and translations), because
that is the only exact count; a request is admitted while the key's token bucket is above zero, so
one large answer may overdraw it and the key then waits until it refills: over a minute the rate
holds. A refused request gets 429 with `Retry-After`, the seconds until it would be admitted.

The limits are per router replica: with N router replicas a key gets up to N times the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar

from app.api.auth import Principal
from app.errors import RateLimited

# The caller of the request being served, set by the gate (app/api/gate.py) so that token usage
# reported deep in the route can be charged to the right key without threading it through.
current_principal: ContextVar[Principal | None] = ContextVar("fanyi_principal", default=None)


class TokenBucket:
    def __init__(self, per_minute: float, now: float):
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until the level reaches `amount` (0 when it already has)."""
        return max(0.0, (amount - self.level) / self.rate)


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        # Keyed by label: bounded by the number of configured keys (+ anonymous).
        self.requests: dict[str, TokenBucket] = {}
        self.tokens: dict[str, TokenBucket] = {}

    def _bucket(self, table: dict[str, TokenBucket], label: str, per_minute: float, now: float) -> TokenBucket:
        bucket = table.get(label)
        if bucket is None:
            bucket = table[label] = TokenBucket(per_minute, now)
        bucket.refill(now)
        return bucket

    def admit(self, who: Principal) -> None:
        """Take one request from the key's allowance, or raise RateLimited with the wait."""
        now = self.clock()
        waits = []
        requests = tokens = None
        if who.requests_per_minute:
            requests = self._bucket(self.requests, who.label, who.requests_per_minute, now)
            waits.append(("requests", requests.wait_for(1.0)))
        if who.tokens_per_minute:
            tokens = self._bucket(self.tokens, who.label, who.tokens_per_minute, now)
            # Admitted while above zero, even by a little: that request may then overdraw, the
            # documented trade-off of charging after the fact.
            if tokens.level <= 0:
                waits.append(("tokens", max(-tokens.level / tokens.rate, 0.001)))
        blocked = [(kind, wait) for kind, wait in waits if wait > 0]
        if blocked:
            kind = max(blocked, key=lambda kw: kw[1])[0]
            wait = max(w for _, w in blocked)
            raise RateLimited(
                f"Rate limit reached for {kind} per minute; retry after {math.ceil(wait)} s.",
                retry_after=max(1, math.ceil(wait)),
            )
        if requests is not None:
            requests.level -= 1.0

    def charge(self, who: Principal, tokens: int) -> None:
        if not who.tokens_per_minute or tokens <= 0:
            return
        bucket = self._bucket(self.tokens, who.label, who.tokens_per_minute, self.clock())
        bucket.level -= tokens

    def charge_current(self, tokens: int) -> None:
        """Charge the caller of the request being served (no-op outside a request)."""
        who = current_principal.get()
        if who is not None:
            self.charge(who, tokens)
