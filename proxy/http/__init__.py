"""The HTTP surface: one module per route group, and who may call them."""

__all__ = ["auth", "chat", "health", "memories", "metrics", "passthrough", "turn", "ui"]
