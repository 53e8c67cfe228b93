from prometheus_client.parser import text_string_to_metric_families

from app.api.metrics import RouterMetrics

UNKNOWN_MODEL = "unknown"  # the label of every name the config does not serve


def _models_seen(metrics: RouterMetrics) -> set[str]:
    text = metrics.render().decode()
    return {
        s.labels["model"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "model" in s.labels
    }


def test_a_model_name_that_cannot_be_encoded_does_not_break_the_exposition():
    metrics = RouterMetrics("r1")  # the router's error path, before any model is known
    metrics.observe_error("x\ud800", "invalid_request_error")
    metrics.observe_request("x\ud800", "chat", 404, 0.01)
    assert b"fanyi_errors_total" in metrics.render()  # the original raised UnicodeEncodeError here, for good


def test_model_labels_are_configured_names_only():
    metrics = RouterMetrics("r1", models=["tiny", "tiny-zh"])  # a model and its adapter
    for name in ["tiny", "tiny-zh", None, "-", "gpt-4", *(f"probe-{i}" for i in range(500))]:
        metrics.observe_request(name, "chat", 200, 0.1)
        metrics.observe_error(name, "invalid_request_error")
        metrics.observe_tokens(name, 3, 4)
        metrics.observe_memory(name, hit=False)
        metrics.observe_ttft(name, 0.05)
        metrics.queued(name).inc()
        metrics.streaming(name).inc()
    assert _models_seen(metrics) == {"tiny", "tiny-zh", UNKNOWN_MODEL}  # 3 series each, not 504
    unknown = {"replica": "r1", "model": UNKNOWN_MODEL, "endpoint": "chat", "status": "200"}
    assert metrics.registry.get_sample_value("fanyi_requests_total", unknown) == 503


def test_rejections_are_counted_by_reason():
    # Token charging left the metrics (it was a hook here): the serving code charges the caller's key
    # where usage is known (test_auth_rate_limit's token bucket test, test_security's over HTTP).
    metrics = RouterMetrics("r1", models=["tiny"])
    metrics.observe_tokens("tiny", 5, 7)
    metrics.observe_rejection("rate_limit_exceeded")
    metrics.observe_rejection("not_a_limit")
    assert (
        metrics.registry.get_sample_value("fanyi_rejected_requests_total", {"replica": "r1", "reason": "rate_limited"})
        == 1
    )
