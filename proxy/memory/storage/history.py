"""Every change to a memory (ADD, UPDATE, DELETE, SUPERSEDE), recorded in SQLite in the data dir."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from proxy.core.errors import MemoryUnavailable
from proxy.core.records import Event
from proxy.memory.storage.sqlite import Migration, open_wal, truncate_wal

__all__ = ["MIGRATIONS", "History"]


def _create_events(db: sqlite3.Connection) -> None:
    """Version 1: one row per change (IF NOT EXISTS: the unversioned databases of earlier
    releases have it already)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            session_id TEXT,
            event TEXT NOT NULL,
            old_text TEXT,
            new_text TEXT,
            at REAL NOT NULL,
            source TEXT,
            extractor TEXT
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS events_memory ON events (memory_id, seq)")
    db.execute("CREATE INDEX IF NOT EXISTS events_user ON events (user_id)")


MIGRATIONS: tuple[Migration, ...] = (_create_events,)


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    # A read-only or vanished data dir is an outage of the store, not a bad turn.
    try:
        yield
    except sqlite3.Error as exc:
        raise MemoryUnavailable(f"history database: {exc}") from exc


class History:
    def __init__(self, path: Path) -> None:
        self._db = open_wal(path, MIGRATIONS)
        self._lock = threading.Lock()

    def record(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._lock, _unavailable_on_error():
            self._db.executemany(
                "INSERT INTO events (memory_id, user_id, session_id, event, old_text, new_text, at,"
                " source, extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.memory_id,
                        e.user_id,
                        e.session_id,
                        e.event,
                        e.old_text,
                        e.new_text,
                        e.at.timestamp(),
                        e.source,
                        e.extractor,
                    )
                    for e in events
                ],
            )

    def of(self, memory_id: str) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT memory_id, user_id, event, old_text, new_text, at, source, extractor,"
                " session_id FROM events WHERE memory_id = ? ORDER BY seq",
                (memory_id,),
            ).fetchall()
        return [
            Event(m, u, e, o, n, datetime.fromtimestamp(at, UTC), s, x, sid)
            for m, u, e, o, n, at, s, x, sid in rows
        ]

    def recent_users(self, limit: int) -> list[str]:
        """Users whose memories changed most recently, newest first."""
        with self._lock, _unavailable_on_error():
            rows = self._db.execute(
                "SELECT user_id FROM events GROUP BY user_id ORDER BY MAX(seq) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [user_id for (user_id,) in rows]

    def memory_ids(self, user_id: str) -> list[str]:
        """Every memory id the user's history names (deleted ones too)."""
        with self._lock, _unavailable_on_error():
            rows = self._db.execute(
                "SELECT DISTINCT memory_id FROM events WHERE user_id = ?", (user_id,)
            ).fetchall()
        return [memory_id for (memory_id,) in rows]

    def erase_user(self, user_id: str, session_id: str | None = None) -> None:
        """Erasure means erasure: a user's (or session's) history goes with their memories,
        from the database (secure_delete zeroes the rows) and from its WAL (cut to zero)."""
        with self._lock, _unavailable_on_error():
            if session_id is None:
                self._db.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            else:
                self._db.execute(
                    "DELETE FROM events WHERE user_id = ? AND session_id = ?", (user_id, session_id)
                )
            truncate_wal(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()
