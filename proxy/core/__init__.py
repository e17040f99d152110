"""Pure request logic: scope, messages, the memory block, tokens, SSE, errors, times and the
memory record. Nothing here does I/O."""
