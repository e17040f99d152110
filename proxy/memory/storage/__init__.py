"""Durable storage adapters: chromadb, the history log, SQLite helpers."""
