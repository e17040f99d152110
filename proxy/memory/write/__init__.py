"""Write-back off the response path: the outbox, the worker, the per-turn pipeline."""
