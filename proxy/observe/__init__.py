"""Seeing what the proxy does: request ids, log lines, Prometheus metrics, the injection log."""

__all__ = ["collector", "context", "injections", "logs", "metrics", "middleware", "recall"]
