"""The injection log on disk: per call, which memories reached the model (ids by tier, never
their text), in SQLite in the data dir. Blocking: the log's writer and the routes call it from a
worker thread."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.core.errors import MemoryUnavailable
from proxy.memory.storage.sqlite import Migration, open_wal, truncate_wal

__all__ = ["MIGRATIONS", "Injection", "InjectionStore"]


def _create_injections(db: sqlite3.Connection) -> None:
    """Version 1: one row per call; ids by tier as JSON."""
    db.execute(
        """CREATE TABLE injections (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            at REAL NOT NULL,
            route TEXT NOT NULL,
            model TEXT,
            user_id TEXT NOT NULL,
            session_id TEXT,
            agent_id TEXT,
            status TEXT NOT NULL,
            injected TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            retrieval_ms REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX injections_user ON injections (user_id, seq)")
    db.execute("CREATE INDEX injections_request ON injections (request_id)")
    db.execute("CREATE INDEX injections_at ON injections (at)")


# One migration per schema version (proxy/memory/storage/sqlite.py); append, never edit one
# that shipped.
MIGRATIONS: tuple[Migration, ...] = (_create_injections,)

_COLUMNS = (
    "seq, request_id, at, route, model, user_id, session_id, agent_id, status, injected,"
    " tokens, retrieval_ms"
)


@dataclass(frozen=True, slots=True)
class Injection:
    """One call that had a user: what memory did for it."""

    request_id: str
    at: float  # unix time
    route: str
    model: str | None
    user_id: str
    session_id: str | None
    agent_id: str | None
    status: str  # injected | none | off | error (X-Memory-Status)
    injected: Mapping[str, Sequence[str]] = field(default_factory=dict)  # ids by tier
    tokens: int = 0
    retrieval_ms: float = 0.0
    seq: int = 0  # assigned when stored

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.injected.values())

    def ids(self) -> list[str]:
        return [memory_id for ids in self.injected.values() for memory_id in ids]


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise MemoryUnavailable(f"injection log database: {exc}") from exc


def _quoted_id(memory_id: str) -> str:
    # The id exactly as it appears inside the stored JSON, quotes included: a substring test
    # on it cannot match a longer id that merely contains it.
    return json.dumps(memory_id, ensure_ascii=False)


class InjectionStore:
    def __init__(self, path: Path) -> None:
        with _unavailable_on_error():
            # secure_delete: an erased user's rows are zeroed in the file, not just unlinked.
            self._db = open_wal(path, MIGRATIONS)
        self._lock = threading.Lock()

    def add(self, entries: Sequence[Injection]) -> None:
        if not entries:
            return
        rows = [
            (
                e.request_id,
                e.at,
                e.route,
                e.model,
                e.user_id,
                e.session_id,
                e.agent_id,
                e.status,
                json.dumps(
                    {tier: list(ids) for tier, ids in e.injected.items()},
                    ensure_ascii=False,
                    separators=(",", ":"),
                ),
                e.tokens,
                e.retrieval_ms,
            )
            for e in entries
        ]
        with self._lock, _unavailable_on_error():
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO injections (request_id, at, route, model, user_id, session_id,"
                    " agent_id, status, injected, tokens, retrieval_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def page(self, user_id: str | None, before_seq: int | None, limit: int) -> list[Injection]:
        """Newest first: up to `limit` entries older than `before_seq` (None: the newest)."""
        clauses, args = self._filters(user_id, before_seq)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select(f"{where} ORDER BY seq DESC LIMIT ?", (*args, limit))

    @staticmethod
    def _filters(user_id: str | None, before_seq: int | None) -> tuple[list[str], list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if user_id is not None:
            clauses.append("user_id = ?")
            args.append(user_id)
        if before_seq is not None:
            clauses.append("seq < ?")
            args.append(before_seq)
        return clauses, args

    def by_request(self, request_id: str) -> list[Injection]:
        return self._select("WHERE request_id = ? ORDER BY seq", (request_id,))

    def of_memory(
        self, memory_id: str, user_id: str | None, before_seq: int | None, limit: int
    ) -> list[Injection]:
        """The newest calls that `memory_id` was injected into (older than `before_seq`)."""
        clauses, args = self._filters(user_id, before_seq)
        clauses.append("instr(injected, ?) > 0")
        args.append(_quoted_id(memory_id))
        return self._select(
            f"WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?", (*args, limit)
        )

    def erase(self, user_id: str, session_id: str | None = None) -> int:
        """A user's (or session's) rows leave the database (zeroed: secure_delete) and its WAL."""
        with self._lock, _unavailable_on_error():
            if session_id is None:
                cursor = self._db.execute("DELETE FROM injections WHERE user_id = ?", (user_id,))
            else:
                cursor = self._db.execute(
                    "DELETE FROM injections WHERE user_id = ? AND session_id = ?",
                    (user_id, session_id),
                )
            truncate_wal(self._db)
        return cursor.rowcount

    def prune(self, older_than: float, max_rows: int) -> int:
        """Delete entries from before `older_than` (unix time), then the oldest past
        `max_rows`. Returns how many went."""
        with self._lock, _unavailable_on_error():
            deleted = self._db.execute(
                "DELETE FROM injections WHERE at < ?", (older_than,)
            ).rowcount
            deleted += self._db.execute(
                "DELETE FROM injections WHERE seq <= (SELECT seq FROM injections"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (max_rows,),
            ).rowcount
        return deleted

    def count(self) -> int:
        with self._lock, _unavailable_on_error():
            return int(self._db.execute("SELECT COUNT(*) FROM injections").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _select(self, tail: str, args: Sequence[object]) -> list[Injection]:
        with self._lock, _unavailable_on_error():
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM injections {tail}", args).fetchall()
        return [_entry(row) for row in rows]


def _entry(row: tuple[Any, ...]) -> Injection:
    seq, request_id, at, route, model, user, session, agent, status, injected, tokens, ms = row
    return Injection(
        request_id=request_id,
        at=at,
        route=route,
        model=model,
        user_id=user,
        session_id=session,
        agent_id=agent,
        status=status,
        injected=json.loads(injected),
        tokens=tokens,
        retrieval_ms=ms,
        seq=seq,
    )
