"""The HTTP API: wire models (protocol), the serving logic per feature, thin route modules, and the
gate every request passes (keys, rate limits, sizes, timeouts, origins), metrics and health."""
