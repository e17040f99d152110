"""The write-back outbox: accepted turns persisted in SQLite (WAL) until their memories are stored.

A turn is written here before the chat response completes, so a crash or restart loses nothing;
it is deleted once processed, so conversation text does not linger on disk: rows are deleted with
secure_delete (zeroed in place), and the WAL, which still holds the written pages, is cut to
zero bytes once the queue has drained (at most once a second: the cut briefly holds up new
writes). Text is redacted before it arrives here. A client's API key is never written here
(see Turn.api_key).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy.core.scope import Scope
from proxy.core.times import check_event_time
from proxy.memory.storage.sqlite import Migration, open_wal, truncate_wal

__all__ = ["MIGRATIONS", "Outbox", "Turn"]


def _create_turns(db: sqlite3.Connection) -> None:
    """Version 1: the turns waiting to be turned into memories (IF NOT EXISTS: the unversioned
    databases of earlier releases have it already)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS turns (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            user_text TEXT NOT NULL,
            assistant_text TEXT NOT NULL,
            occurred_at REAL,
            accepted_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending',
            last_error TEXT
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS turns_status ON turns (status, seq)")


def _create_probe(db: sqlite3.Connection) -> None:
    """Version 2: a table for a small real write that tells whether the disk takes writes."""
    db.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")


MIGRATIONS: tuple[Migration, ...] = (_create_turns, _create_probe)


@dataclass(frozen=True)
class Turn:
    id: str
    scope: Scope
    user_text: str
    assistant_text: str
    occurred_at: datetime | None
    accepted_at: datetime
    seq: int = 0
    attempts: int = 0
    # The client's key for its extraction (`extraction.use_client_key`): attached in memory by
    # the writer, never stored in the outbox.
    api_key: str | None = field(default=None, repr=False, compare=False)


class Outbox:
    def __init__(self, path: Path) -> None:
        self._db = open_wal(path, MIGRATIONS)
        self._lock = threading.Lock()
        self.dirty = False  # rows were deleted since the WAL was last cut

    def put(self, turn: Turn) -> int:
        scope = json.dumps([turn.scope.user_id, turn.scope.session_id, turn.scope.agent_id])
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO turns (id, scope, user_text, assistant_text, occurred_at,"
                " accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    turn.id,
                    scope,
                    turn.user_text,
                    turn.assistant_text,
                    turn.occurred_at.timestamp() if turn.occurred_at else None,
                    turn.accepted_at.timestamp(),
                ),
            )
            return int(cursor.lastrowid or 0)

    def pending(self, limit: int = 32) -> tuple[list[Turn], int]:
        """The oldest pending turns, and how many rows could not be read as turns: those are
        parked as failed with the reason, so that one bad row never stops the queue."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, scope, user_text, assistant_text, occurred_at, accepted_at,"
                " attempts FROM turns WHERE status = 'pending' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        turns: list[Turn] = []
        unreadable = 0
        for row in rows:
            try:
                turns.append(_turn(row))
            except Exception as exc:  # any malformed column: park the row, keep the rest going
                unreadable += 1
                self._park(int(row[0]), f"unreadable row: {type(exc).__name__}: {exc}")
        return turns, unreadable

    def _park(self, seq: int, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE turns SET status = 'failed', last_error = ? WHERE seq = ?",
                (reason[:500], seq),
            )

    def done(self, turns: Sequence[Turn]) -> None:
        """Remove processed turns, all or none (the writer counts them out of its backlog)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("DELETE FROM turns WHERE seq = ?", [(t.seq,) for t in turns])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self.dirty = True

    def erase_user(self, user_id: str, session_id: str | None = None) -> int:
        """Remove the user's parked turns (their text waits there for an operator) and cut the
        WAL; pending turns stay: they were accepted after the erase began. Returns the count."""
        where = "status = 'failed' AND json_extract(scope, '$[0]') = ?"
        params: tuple[str, ...] = (user_id,)
        if session_id is not None:
            where += " AND json_extract(scope, '$[1]') = ?"
            params += (session_id,)
        with self._lock:
            removed = self._db.execute(f"DELETE FROM turns WHERE {where}", params).rowcount
            if truncate_wal(self._db):
                self.dirty = False
        return int(removed)

    def compact(self) -> None:
        """Cut the WAL to zero bytes: processed turns' text leaves the disk (blocking)."""
        with self._lock:
            if truncate_wal(self._db):
                self.dirty = False

    def probe(self) -> None:
        """A small real write (raises when the disk is full)."""
        with self._lock:
            self._db.execute("INSERT INTO probe (x) VALUES (1)")
            self._db.execute("DELETE FROM probe")

    def retry_later(self, turn: Turn, error: str, max_attempts: int) -> bool:
        """Count a failed attempt; park the turn as failed past `max_attempts`. True if parked."""
        attempts = turn.attempts + 1
        status = "failed" if attempts >= max_attempts else "pending"
        with self._lock:
            self._db.execute(
                "UPDATE turns SET attempts = ?, status = ?, last_error = ? WHERE seq = ?",
                (attempts, status, error[:500], turn.seq),
            )
        return status == "failed"

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM turns GROUP BY status").fetchall()
        counts = {"pending": 0, "failed": 0}
        counts.update({status: int(n) for status, n in rows})
        return counts

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM turns").fetchone()
        return int(row[0])

    def pending_up_to(self, seq: int) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM turns WHERE status = 'pending' AND seq <= ?", (seq,)
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _turn(row: tuple[Any, ...]) -> Turn:
    """A row as a turn; raises on a row this version cannot read (parked by the caller)."""
    seq, turn_id, scope, user_text, assistant_text, occurred_at, accepted_at, attempts = row
    user_id, session_id, agent_id = json.loads(scope)
    accepted = datetime.fromtimestamp(accepted_at, UTC)
    return Turn(
        id=turn_id,
        scope=Scope(user_id, session_id, agent_id),
        user_text=user_text,
        assistant_text=assistant_text,
        # Strict on purpose: a time out of range (written before the edge checked it) parks
        # the row with the reason instead of being silently moved.
        occurred_at=_occurred(occurred_at, accepted) if occurred_at is not None else None,
        accepted_at=accepted,
        seq=seq,
        attempts=attempts,
    )


def _occurred(timestamp: float, accepted_at: datetime) -> datetime:
    return check_event_time(datetime.fromtimestamp(timestamp, UTC), accepted_at)
