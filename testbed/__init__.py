"""The real servers that tests and benchmarks run against: a fake OpenAI-compatible upstream
(`fake_upstream`), uvicorn on 127.0.0.1 in a background thread (`servers`), and the proxy or the
fake upstream as child processes (`processes`). Not part of the product (never installed)."""
