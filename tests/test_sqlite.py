"""The outbox and history databases are versioned (`PRAGMA user_version`): named migrations are
applied in order, once; a database written by a newer version is refused with a clear message,
and the proxy then serves without memory instead of misreading it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.core.errors import DatabaseTooNew
from proxy.core.records import Event
from proxy.core.scope import Scope
from proxy.memory.storage import history
from proxy.memory.storage.history import History
from proxy.memory.storage.sqlite import open_wal, schema_version
from proxy.memory.write import outbox
from proxy.memory.write.outbox import Outbox, Turn
from tests.conftest import ProxyFactory

NOW = datetime(2026, 11, 1, tzinfo=UTC)

# The schemas as the releases before versioning created them (user_version 0).
UNVERSIONED_OUTBOX = """
CREATE TABLE turns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, scope TEXT NOT NULL,
    user_text TEXT NOT NULL, assistant_text TEXT NOT NULL, occurred_at REAL,
    accepted_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending', last_error TEXT
);
CREATE INDEX turns_status ON turns (status, seq);
INSERT INTO turns (id, scope, user_text, assistant_text, accepted_at)
    VALUES ('t1', '["ana", null, null]', 'I keep bees.', 'Noted.', 1793491200.0);
"""
UNVERSIONED_HISTORY = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, memory_id TEXT NOT NULL, user_id TEXT NOT NULL,
    session_id TEXT, event TEXT NOT NULL, old_text TEXT, new_text TEXT, at REAL NOT NULL,
    source TEXT, extractor TEXT
);
CREATE INDEX events_memory ON events (memory_id, seq);
CREATE INDEX events_user ON events (user_id);
INSERT INTO events (memory_id, user_id, event, new_text, at) VALUES ('m1', 'ana', 'ADD', 'x', 1);
"""


def _create(path: Path, script: str, version: int = 0) -> None:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    db.close()


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return schema_version(db)
    finally:
        db.close()


def test_a_new_database_is_at_the_newest_version(tmp_path: Path) -> None:
    Outbox(tmp_path / "outbox.sqlite3").close()
    History(tmp_path / "history.sqlite3").close()
    assert _version(tmp_path / "outbox.sqlite3") == len(outbox.MIGRATIONS) == 2  # + probe
    assert _version(tmp_path / "history.sqlite3") == len(history.MIGRATIONS) == 1


def test_an_unversioned_database_of_an_earlier_release_keeps_its_rows(tmp_path: Path) -> None:
    _create(tmp_path / "outbox.sqlite3", UNVERSIONED_OUTBOX)
    _create(tmp_path / "history.sqlite3", UNVERSIONED_HISTORY)
    box = Outbox(tmp_path / "outbox.sqlite3")
    turns, unreadable = box.pending()
    assert [t.id for t in turns] == ["t1"] and unreadable == 0
    box.put(Turn("t2", Scope("ana"), "I play the cello.", "Noted.", None, NOW))
    assert box.counts()["pending"] == 2
    box.close()
    events = History(tmp_path / "history.sqlite3")
    assert [e.event for e in events.of("m1")] == ["ADD"]
    events.record([Event("m2", "ana", "ADD", None, "y", NOW)])
    assert events.recent_users(5) == ["ana"]
    events.close()
    assert _version(tmp_path / "outbox.sqlite3") == len(outbox.MIGRATIONS)
    assert _version(tmp_path / "history.sqlite3") == len(history.MIGRATIONS)


@pytest.mark.parametrize("open_db", [Outbox, History], ids=["outbox", "history"])
def test_a_database_of_a_newer_version_is_refused(tmp_path: Path, open_db: type) -> None:
    path = tmp_path / "db.sqlite3"
    _create(path, "CREATE TABLE later (x)", version=7)
    known = len((outbox if open_db is Outbox else history).MIGRATIONS)
    with pytest.raises(DatabaseTooNew, match=rf"db\.sqlite3 has schema version 7.*up to {known}"):
        open_db(path)
    assert _version(path) == 7  # left as it was


def test_migrations_run_in_order_once_each_and_a_failed_one_leaves_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite3"
    ran: list[str] = []

    def first(db: sqlite3.Connection) -> None:
        ran.append("first")
        db.execute("CREATE TABLE a (x)")

    def second(db: sqlite3.Connection) -> None:
        ran.append("second")
        db.execute("ALTER TABLE a ADD COLUMN y")

    def broken(db: sqlite3.Connection) -> None:
        ran.append("broken")
        db.execute("CREATE TABLE b (x)")
        raise RuntimeError("half way")

    open_wal(path, [first]).close()
    open_wal(path, [first, second]).close()
    open_wal(path, [first, second]).close()
    assert ran == ["first", "second"]
    with pytest.raises(RuntimeError, match="half way"):
        open_wal(path, [first, second, broken])
    assert _version(path) == 2
    db = sqlite3.connect(path)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "a" in tables and "b" not in tables  # the broken migration's table rolled back


def test_a_proxy_with_a_newer_outbox_serves_without_memory_and_says_why(
    tmp_path: Path, make_proxy: ProxyFactory
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    newer = len(outbox.MIGRATIONS) + 1
    _create(data / "outbox.sqlite3", "CREATE TABLE later (x)", version=newer)
    proxy = make_proxy(data_dir=data)
    health = proxy.http.get("/healthz").json()
    assert health["status"] == "degraded"
    assert f"schema version {newer}" in health["memory"]["error"]
    answer = proxy.client("ana").chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "I keep bees."}]
    )
    assert answer.http_response.status_code == 200
    assert answer.headers["x-memory-status"] == "error"  # answered, memory off
