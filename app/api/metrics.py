"""Prometheus metrics of one router replica, served at GET /metrics in the text format.

Each router replica keeps its own registry (Ray Serve may run several); the `replica` label keeps
their series apart when a scraper reaches them through the proxy one at a time.

The `model` label only ever holds a configured model or adapter name, `unknown` otherwise: a client's
`model` string must not become a series (unbounded cardinality, and text the exposition format may
not encode). The metric objects are private so that every label passes that check here.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    "body_timeout": "slow_body",
    "host_not_allowed": "bad_host",
    "cross_site_request": "cross_site",  # app/api/edge.py, gate
}


UNKNOWN_MODEL = "unknown"


class RouterMetrics:
    def __init__(self, replica: str, models: Iterable[str] = ()):
        """`models`: the served names (models and adapters) that may appear as the `model` label."""
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.replica = replica
        self._models = frozenset(models)
        self._requests = Counter(
            "fanyi_requests",
            "Requests answered, by model, endpoint and HTTP status.",
            ["replica", "model", "endpoint", "status"],
            **labels,
        )
        self._errors = Counter(
            "fanyi_errors", "Error responses, by model and error type.", ["replica", "model", "type"], **labels
        )
        self._ttft = Histogram(
            "fanyi_time_to_first_token_seconds",
            "Time from request to first generated token.",
            ["replica", "model"],
            buckets=_BUCKETS,
            **labels,
        )
        self._latency = Histogram(
            "fanyi_request_duration_seconds",
            "Time from request to the last byte of the answer.",
            ["replica", "model", "endpoint"],
            buckets=_BUCKETS,
            **labels,
        )
        self._prompt_tokens = Counter("fanyi_prompt_tokens", "Prompt tokens processed.", ["replica", "model"], **labels)
        self._completion_tokens = Counter(
            "fanyi_completion_tokens", "Tokens generated.", ["replica", "model"], **labels
        )
        self._queued = Gauge(
            "fanyi_queue_depth",
            "Requests sent to the model that have no token back yet.",
            ["replica", "model"],
            **labels,
        )
        self._running = Gauge(
            "fanyi_requests_streaming", "Requests receiving tokens right now.", ["replica", "model"], **labels
        )

        self._memory = Counter(
            "fanyi_translation_memory",
            "Translation-memory lookups by result (hit: no engine call).",
            ["replica", "model", "result"],
            **labels,
        )

        self._rejected = Counter(
            "fanyi_rejected_requests",
            "Requests refused by a limit, by reason (unauthorized, rate_limited, "
            "overloaded, timeout, too_large, too_many_segments, too_many_tokens).",
            ["replica", "reason"],
            **labels,
        )

    def model_label(self, model: str | None) -> str:
        return model if model in self._models else UNKNOWN_MODEL

    def observe_rejection(self, code: str | None) -> None:
        reason = REJECTION_REASONS.get(code or "")
        if reason is not None:
            self._rejected.labels(self.replica, reason).inc()

    def observe_memory(self, model: str, hit: bool) -> None:
        self._memory.labels(self.replica, self.model_label(model), "hit" if hit else "miss").inc()

    def observe_request(self, model: str, endpoint: str, status: int, seconds: float) -> None:
        model = self.model_label(model)
        self._requests.labels(self.replica, model, endpoint, str(status)).inc()
        if status < 400:
            self._latency.labels(self.replica, model, endpoint).observe(seconds)

    def observe_error(self, model: str, error_type: str) -> None:
        self._errors.labels(self.replica, self.model_label(model), error_type).inc()

    def observe_tokens(self, model: str, prompt: int, completion: int) -> None:
        model = self.model_label(model)
        self._prompt_tokens.labels(self.replica, model).inc(prompt)
        self._completion_tokens.labels(self.replica, model).inc(completion)

    def observe_ttft(self, model: str, seconds: float) -> None:
        self._ttft.labels(self.replica, self.model_label(model)).observe(seconds)

    def queued(self, model: str) -> Gauge:
        """The gauge of requests sent to `model`'s replicas with no token back yet."""
        return self._queued.labels(self.replica, self.model_label(model))

    def streaming(self, model: str) -> Gauge:
        """The gauge of `model`'s requests receiving tokens right now."""
        return self._running.labels(self.replica, self.model_label(model))

    def render(self) -> bytes:
        return generate_latest(self.registry)
