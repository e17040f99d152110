"""Write-back off the response path: the outbox, the worker, the per-turn pipeline."""

__all__ = ["outbox", "pipeline", "writer"]
