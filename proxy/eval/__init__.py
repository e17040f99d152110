"""`memory-proxy eval`: the same model with and without memory on fixed cases (README: Eval)."""
