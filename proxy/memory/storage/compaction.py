"""Erased text out of the embedded chromadb's files (blocking).

chromadb deletes a row from its tables but its SQLite file keeps the text in three places
(measured on chromadb 1.5.9): its write-ahead log table `embeddings_queue` (every upsert with
its document and metadata, kept until the vector segment persists, up to 1,000 writes per
collection), the full-text index (`embedding_fulltext_search*`: the row goes, its index segments
stay until they are merged) and the freed space of the pages the rows lived in (chromadb's own
connection does not use secure_delete). So an erase then:

1. blanks the erased ids' entries in `embeddings_queue` to `{}`, the metadata chromadb itself
   writes for a delete (the log is replayed into the vector index only, which needs no text);
2. merges the full-text index (`'optimize'`), which drops deleted entries;
3. rebuilds the file (`VACUUM`), which leaves no freed page or cell behind.

The vector index files (HNSW `data_level0.bin`) keep an erased memory's vector, marked deleted,
until the collection is rebuilt: 384 numbers, not its text. VACUUM rewrites the whole file: its
time grows with the store (the README gives figures), and chromadb's writes wait meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["compact_chroma"]

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per statement (SQLite's parameter limit is far above)


def compact_chroma(chroma_dir: Path, erased_ids: Sequence[str], timeout_s: float = 60.0) -> float:
    """Scrub, merge and VACUUM the embedded store's SQLite file; returns the seconds it took.
    Raises sqlite3.Error if the file stays locked for `timeout_s`."""
    started = time.perf_counter()
    db = sqlite3.connect(chroma_dir / "chroma.sqlite3", timeout=timeout_s, isolation_level=None)
    try:
        db.execute("PRAGMA secure_delete=ON")
        ids = list(erased_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            db.execute(
                f"UPDATE embeddings_queue SET metadata = '{{}}' WHERE id IN ({marks})", chunk
            )
        if _has_table(db, "embedding_fulltext_search"):
            fts = "embedding_fulltext_search"
            db.execute(f"INSERT INTO {fts}({fts}) VALUES('optimize')")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a no-op unless chromadb moved to WAL
    finally:
        db.close()
    took = time.perf_counter() - started
    log.info("compacted the store after erasing %d memories in %.2f s", len(ids), took)
    return took


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return row is not None
