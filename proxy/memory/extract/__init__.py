"""What to keep from a turn: offline rules, the LLM extractor, single-valued attributes and
secret redaction (all pure but the LLM call)."""

__all__ = ["attributes", "llm", "offline", "redact", "tiers"]
