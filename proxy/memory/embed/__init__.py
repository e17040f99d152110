"""Embedding models behind one protocol, and query micro-batching."""
