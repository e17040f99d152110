"""Durable storage adapters: chromadb, the history log, SQLite helpers."""

__all__ = [
    "chroma",
    "chroma_errors",
    "history",
    "migrations",
    "protocol",
    "rows",
    "sqlite",
]
