"""HTTP API, Prometheus metrics and the operator dashboard (``python -m pipeline serve``); see docs/api.md."""
