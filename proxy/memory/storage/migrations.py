"""Bringing a store written by an earlier version up to the current row format, once.

Version 2 added `tier` and `attribute` to every row. Rows without them are read correctly anyway
(proxy/memory/storage/rows.py derives them: preferences, constraints and what says who the user
is become the profile), so the migration can run in the background after start; it writes the
derived values into the rows' metadata, without re-embedding, and records the version so that it
never runs again (the record is in the store itself: replicas on a Chroma server share it).
"""

from __future__ import annotations

import logging

from proxy.memory.storage.chroma import ROW_FORMAT, ChromaStore

__all__ = ["ROW_FORMAT", "migrate"]

log = logging.getLogger(__name__)


def migrate(store: ChromaStore) -> int:
    """Rewrite the rows of an older format; returns how many were rewritten."""
    if (store.schema_version() or 0) >= ROW_FORMAT:
        return 0
    rewritten = 0
    for page in store.rows_lacking("tier"):
        store.rewrite_metadata(page)  # from_row derived tier and attribute: now they are stored
        rewritten += len(page)
    store.set_schema_version(ROW_FORMAT)
    if rewritten:
        log.info(
            "gave %d memories written before tiers their tier (row format %d)",
            rewritten,
            ROW_FORMAT,
        )
    return rewritten
