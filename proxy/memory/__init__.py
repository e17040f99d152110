"""Long-term memory: what a turn leaves (extract, write), how it is found again (embed, recall),
where it is kept (storage); `service` is what the routes call, `reconcile` its pure write rules."""

__all__ = [
    "admin",
    "embed",
    "extract",
    "recall",
    "reconcile",
    "service",
    "storage",
    "unit",
    "write",
]
