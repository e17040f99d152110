"""Retrieval over a user's memories held in process: the index, keyword search, selection."""

__all__ = ["cache", "compose", "followup", "index", "lexical", "retrieval"]
