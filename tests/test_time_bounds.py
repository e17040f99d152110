"""One out-of-range time once stopped every user's memory writes (issue 14, critical): times are
checked at every edge, a row that cannot be read is parked, and the writer never stays down."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from proxy.core.errors import InvalidRequest
from proxy.core.records import Memory
from proxy.core.scope import Scope, parse_time
from proxy.core.times import EARLIEST, check_event_time, from_timestamp
from proxy.memory.storage.chroma import ChromaStore
from proxy.memory.write.outbox import Outbox, Turn
from proxy.memory.write.writer import WriteBack
from tests.conftest import Proxy, ProxyFactory

POISON = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z"]


def _chat(proxy: Proxy, user: str, text: str, **headers: str):
    return proxy.http.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
        headers={"X-User-Id": user, **headers},
    )


@pytest.mark.parametrize("value", POISON)
def test_an_out_of_range_memory_time_is_a_400_and_writes_go_on(proxy: Proxy, value: str) -> None:
    refused = _chat(proxy, "mallory", "I live in Paris.", **{"X-Memory-Time": value})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_memory_time"
    assert refused.json()["error"]["param"] == "x-memory-time"
    # Everyone else's writes still land.
    assert _chat(proxy, "alice", "I keep bees in my garden.").status_code == 200
    proxy.flush()
    assert [m["text"] for m in proxy.memories("alice")] == ["I keep bees in my garden."]
    assert proxy.memories("mallory") == []


def test_a_time_a_day_ahead_is_accepted_and_stored_as_now(proxy: Proxy) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    assert _chat(proxy, "u", "I live in Paris.", **{"X-Memory-Time": soon}).status_code == 200
    proxy.flush()
    (memory,) = proxy.memories("u")
    assert datetime.fromisoformat(memory["occurred_at"]) <= datetime.now(UTC)
    late = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert _chat(proxy, "u", "I live in Rome.", **{"X-Memory-Time": late}).status_code == 400


def test_a_future_statement_does_not_lock_an_attribute(proxy: Proxy) -> None:
    """ "I live in Paris" dated ahead of now must not make later moves lose to it."""
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    _chat(proxy, "v", "I live in Paris.", **{"X-Memory-Time": soon})
    proxy.flush()
    _chat(proxy, "v", "I live in Berlin.")
    proxy.flush()
    live = [m["text"] for m in proxy.memories("v")]
    assert live == ["I live in Berlin."]


@pytest.mark.parametrize("value", POISON)
def test_the_memory_api_refuses_out_of_range_times(proxy: Proxy, value: str) -> None:
    created = proxy.http.post(
        "/memories", json={"user_id": "w", "text": "I like tea.", "occurred_at": value}
    )
    assert created.status_code == 400, created.text
    assert created.json()["error"]["param"] == "occurred_at"
    expiring = proxy.http.post(
        "/memories", json={"user_id": "w", "text": "I like tea.", "expires_at": value}
    )
    assert expiring.status_code == 400, expiring.text
    assert proxy.http.get("/memories/export").status_code == 200
    assert proxy.http.get("/memories/stats").status_code == 200


def test_an_import_line_with_an_out_of_range_time_is_refused_by_line(proxy: Proxy) -> None:
    good = {
        "id": "m-1",
        "text": "I like tea.",
        "user_id": "x",
        "created_at": "2024-01-01T00:00:00Z",
        "occurred_at": "2024-01-01T00:00:00Z",
    }
    bad = {**good, "id": "m-2", "occurred_at": POISON[0]}
    body = (json.dumps(good) + "\n" + json.dumps(bad) + "\n").encode()
    response = proxy.http.post(
        "/memories/import", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 400
    assert "line 2" in response.json()["error"]["message"]
    assert [m["id"] for m in proxy.memories("x")] == ["m-1"]


def test_rows_stored_before_the_check_are_read_back_clamped(tmp_path: Path, embedder) -> None:
    """A store written by an older version may hold a year-0 time: every read still works."""
    store = ChromaStore.connect(tmp_path, None, embedder.name)
    odd = datetime(1, 1, 1, 12, tzinfo=UTC)
    memory = Memory("m-old", "I like tea.", Scope("y"), created_at=odd, occurred_at=odd)
    store.upsert([memory], np.zeros((1, embedder.dim), dtype=np.float32))
    (back,) = store.get(["m-old"])
    assert back.occurred_at == EARLIEST and back.created_at == EARLIEST
    assert [m.id for page in store.scan() for m in page] == ["m-old"]


def test_from_timestamp_never_raises() -> None:
    for value in (-1e20, 1e20, float("nan"), float("inf"), "x", None, -62135596800.0):
        assert EARLIEST <= from_timestamp(value) <= datetime(9000, 1, 1, tzinfo=UTC)


def test_parse_time_bounds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2023-05-08T13:56:00", now) == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert parse_time("1900-01-01T00:00:00Z", now) == EARLIEST
    for value in [*POISON, "2026-01-02T00:00:01Z"]:
        with pytest.raises(InvalidRequest):
            parse_time(value, now)
    assert check_event_time(now + timedelta(hours=23), now) == now + timedelta(hours=23)


def _poison_outbox(data_dir: Path) -> None:
    """An outbox row as an older version wrote it: its time is year 0 in UTC."""
    outbox = Outbox(data_dir / "outbox.sqlite3")
    outbox.put(
        Turn(
            id="poison",
            scope=Scope("mallory"),
            user_text="I live in Paris.",
            assistant_text="",
            occurred_at=None,
            accepted_at=datetime.now(UTC),
        )
    )
    outbox.close()
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    with db:
        db.execute("UPDATE turns SET occurred_at = ? WHERE id = 'poison'", (-62135647200.0,))
    db.close()


def test_a_poisoned_outbox_row_is_parked_and_the_queue_goes_on(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "poisoned"
    _poison_outbox(data_dir)
    proxy = make_proxy(data_dir=data_dir)
    assert _chat(proxy, "alice", "I keep bees in my garden.").status_code == 200
    proxy.flush()
    assert [m["text"] for m in proxy.memories("alice")] == ["I keep bees in my garden."]
    health = proxy.http.get("/healthz").json()
    assert health["memory"]["writes"]["unreadable"] == 1
    assert health["memory"]["backlog"] == {"pending": 0, "failed": 1}
    assert health["memory"]["writer"] == "ok" and health["status"] == "ok"
    reason = sqlite3.connect(data_dir / "outbox.sqlite3").execute(
        "SELECT last_error FROM turns WHERE id = 'poison'"
    )
    assert "unreadable row" in reason.fetchone()[0]


def test_a_stuck_worker_is_reported_and_restarted(tmp_path: Path) -> None:
    """An extraction that hangs (a model that never answers) holds the queue: after
    `stuck_after_s` the state says stuck and the worker is started again."""
    asyncio.run(_stuck_worker(tmp_path))


async def _stuck_worker(tmp_path: Path) -> None:
    release = threading.Event()
    seen: list[str] = []

    def process(turn: Turn) -> None:
        if not release.is_set():
            release.wait(30)  # attempts hang until the test lets them go
        seen.append(turn.id)

    writer = WriteBack(Outbox(tmp_path / "outbox.sqlite3"), process)
    writer.stuck_after_s = 0.3
    writer.start()
    try:
        await writer.accept(Scope("u"), "I keep bees.", "", None)
        await _until(lambda: writer.stats.worker_restarts >= 1)
        assert writer.state() in ("stuck", "restarting")
        release.set()
        assert await writer.flush(10)
        assert writer.state() == "ok" and seen
    finally:
        release.set()
        await writer.stop(0)


def test_a_failing_outbox_restarts_the_worker_until_it_recovers(tmp_path: Path) -> None:
    """Another process holds the outbox locked: the worker's writes fail, it is restarted
    (state `restarting`), and once the lock goes the backlog drains."""
    asyncio.run(_locked_outbox(tmp_path))


async def _locked_outbox(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox._db.execute("PRAGMA busy_timeout = 100")  # fail fast instead of waiting 5 s
    done: list[str] = []
    writer = WriteBack(outbox, lambda turn: done.append(turn.id))
    await writer.accept(Scope("u"), "I keep bees.", "", None)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    writer.start()
    try:
        await _until(lambda: writer.stats.worker_restarts >= 1)
        locker.execute("COMMIT")
        assert await writer.flush(10)
        assert await writer.backlog() == {"pending": 0, "failed": 0}
        assert writer.state() == "ok"
    finally:
        locker.close()
        await writer.stop(0)


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
