"""Opening the proxy's small SQLite databases (outbox, history) the same way, their schemas
versioned: `PRAGMA user_version` records how many of a database's named migrations have been
applied, and opening applies the rest in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from proxy.core.errors import DatabaseTooNew

__all__ = ["Migration", "open_wal", "schema_version", "truncate_wal"]

# Brings a database from the version before it to its own. Statements one by one (`execute`):
# `executescript` would commit the migration's transaction half way.
Migration = Callable[[sqlite3.Connection], None]


def open_wal(path: Path, migrations: Sequence[Migration]) -> sqlite3.Connection:
    """A connection in autocommit, WAL mode, shared across threads (callers hold a lock), its
    schema brought to version len(migrations). synchronous=NORMAL in WAL survives a process
    crash (kill -9); only an OS crash or power loss may drop the last commits. A database of a
    newer version than `migrations` knows is refused: this code could not read what it holds.
    secure_delete: a deleted row's text is overwritten with zeros in the page, not left in free
    space (the WAL still holds the old page until `truncate_wal`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA secure_delete=ON")
        _migrate(db, path, migrations)
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    _check_known(path, schema_version(db), len(migrations))
    while schema_version(db) < len(migrations):
        # One transaction per migration, the version read again under the write lock: another
        # process opening the same file at the same time applies each migration only once.
        db.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(db)
            _check_known(path, version, len(migrations))
            if version < len(migrations):
                migrations[version](db)
                db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _check_known(path: Path, version: int, known: int) -> None:
    if version > known:
        raise DatabaseTooNew(
            f"{path} has schema version {version}, but this memory-proxy knows versions up to"
            f" {known}: it was written by a newer memory-proxy. Run that version, or move the"
            " file away to start an empty one."
        )


def truncate_wal(db: sqlite3.Connection) -> bool:
    """Copy the WAL into the database and cut it to zero bytes: the old versions of pages (the
    text of deleted rows) leave the disk. True if done (another connection's reader may keep
    part of the WAL alive; then the next call finishes it)."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy
