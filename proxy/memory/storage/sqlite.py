"""Opening the proxy's small SQLite databases (outbox, history) the same way."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_wal(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit, WAL mode, shared across threads (callers hold a lock).
    synchronous=NORMAL in WAL survives a process crash (kill -9); only an OS crash or power
    loss may drop the last commits. secure_delete: a deleted row's text is overwritten with
    zeros in the page, not left in free space (the WAL still holds the old page until
    `truncate_wal`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA secure_delete=ON")
    db.executescript(schema)
    return db


def truncate_wal(db: sqlite3.Connection) -> bool:
    """Copy the WAL into the database and cut it to zero bytes: the old versions of pages (the
    text of deleted rows) leave the disk. True if done (another connection's reader may keep
    part of the WAL alive; then the next call finishes it)."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy
