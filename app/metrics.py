"""Prometheus metrics of one router replica, served at GET /metrics in the text format.

Each router replica keeps its own registry (Ray Serve may run several); the `replica` label keeps
their series apart when a scraper reaches them through the proxy one at a time.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Latency buckets from 5 ms to a minute: TTFT on a warm GPU is tens of ms, on CPU seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Error codes that mean "refused by a limit", and the `reason` each is counted under in
# fanyi_rejected_requests_total: what an operator tunes (keys, rates, queues, sizes, timeouts).
REJECTION_REASONS = {
    "invalid_api_key": "unauthorized",
    "rate_limit_exceeded": "rate_limited",
    "overloaded": "overloaded",
    "timeout": "timeout",
    "request_too_large": "too_large",
    "file_too_large": "too_large",
    "too_many_segments": "too_many_segments",
    "max_tokens_exceeded": "too_many_tokens",
    "context_length_exceeded": "too_many_tokens",
}


class RouterMetrics:
    def __init__(self, replica: str):
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.replica = replica
        self.requests = Counter(
            "fanyi_requests", "Requests answered, by model, endpoint and HTTP status.",
            ["replica", "model", "endpoint", "status"], **labels,
        )
        self.errors = Counter(
            "fanyi_errors", "Error responses, by model and error type.", ["replica", "model", "type"], **labels
        )
        self.ttft = Histogram(
            "fanyi_time_to_first_token_seconds", "Time from request to first generated token.",
            ["replica", "model"], buckets=_BUCKETS, **labels,
        )
        self.latency = Histogram(
            "fanyi_request_duration_seconds", "Time from request to the last byte of the answer.",
            ["replica", "model", "endpoint"], buckets=_BUCKETS, **labels,
        )
        self.prompt_tokens = Counter("fanyi_prompt_tokens", "Prompt tokens processed.", ["replica", "model"], **labels)
        self.completion_tokens = Counter(
            "fanyi_completion_tokens", "Tokens generated.", ["replica", "model"], **labels
        )
        self.queued = Gauge(
            "fanyi_queue_depth", "Requests sent to the model that have no token back yet.",
            ["replica", "model"], **labels,
        )
        self.running = Gauge(
            "fanyi_requests_streaming", "Requests receiving tokens right now.", ["replica", "model"], **labels
        )

        self.memory = Counter(
            "fanyi_translation_memory", "Translation-memory lookups by result (hit: no engine call).",
            ["replica", "model", "result"], **labels,
        )

        self.rejected = Counter(
            "fanyi_rejected_requests", "Requests refused by a limit, by reason (unauthorized, rate_limited, "
            "overloaded, timeout, too_large, too_many_segments, too_many_tokens).", ["replica", "reason"], **labels,
        )
        # Called with each request's token count (the rate limiter charges the caller's key).
        self.on_tokens: Callable[[int], None] | None = None

    def observe_rejection(self, code: str | None) -> None:
        reason = REJECTION_REASONS.get(code or "")
        if reason is not None:
            self.rejected.labels(self.replica, reason).inc()

    def observe_memory(self, model: str, hit: bool) -> None:
        self.memory.labels(self.replica, model, "hit" if hit else "miss").inc()

    def observe_request(self, model: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(self.replica, model, endpoint, str(status)).inc()
        if status < 400:
            self.latency.labels(self.replica, model, endpoint).observe(seconds)

    def observe_error(self, model: str, error_type: str) -> None:
        self.errors.labels(self.replica, model, error_type).inc()

    def observe_tokens(self, model: str, prompt: int, completion: int) -> None:
        self.prompt_tokens.labels(self.replica, model).inc(prompt)
        self.completion_tokens.labels(self.replica, model).inc(completion)
        if self.on_tokens is not None:
            self.on_tokens(prompt + completion)

    def render(self) -> bytes:
        return generate_latest(self.registry)
