"""Pure request logic: scope, messages, the memory block, tokens, SSE, errors, times and the
memory record. Nothing here does I/O."""

__all__ = [
    "conversation",
    "conversations",
    "errors",
    "inject",
    "language",
    "records",
    "scope",
    "sse",
    "times",
    "tokens",
]
