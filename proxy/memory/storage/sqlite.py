"""Opening the proxy's small SQLite databases (outbox, history) the same way."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_wal(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit, WAL mode, shared across threads (callers hold a lock).
    synchronous=NORMAL in WAL survives a process crash (kill -9); only an OS crash or power
    loss may drop the last commits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
