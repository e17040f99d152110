"""Seeing what the proxy does: request ids, log lines, Prometheus metrics, the injection log."""
