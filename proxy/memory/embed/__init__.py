"""Embedding models behind one protocol, and query micro-batching."""

__all__ = ["base", "batcher", "e5", "minilm", "queries", "remote"]
