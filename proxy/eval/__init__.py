"""`memory-proxy eval`: the same model with and without memory on fixed cases (README: Eval)."""

__all__ = [
    "adapters",
    "arms",
    "cases",
    "cli",
    "client",
    "judge",
    "local",
    "replay",
    "report",
    "results",
    "rubric",
    "runner",
    "scoring",
    "state",
]
