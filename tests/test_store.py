"""The chromadb store's layout: users sharded over collections, reads that never create
collections; and what its failures are: an unreachable or damaged store is an outage, a wrong
call is a bug that surfaces as itself."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import chromadb
import httpx
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import InternalError, InvalidArgumentError, NotFoundError

from proxy.core.errors import MemoryUnavailable
from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.memory.embed.minilm import MiniLMEmbedder
from proxy.memory.extract.offline import Fact
from proxy.memory.recall.retrieval import SelectionParams
from proxy.memory.service import MemoryService, memory_id
from proxy.memory.storage.chroma import (
    LOAD_PAGE,
    PREFIX,
    SHARDS,
    ChromaStore,
    shard_of,
)
from proxy.memory.storage.chroma_errors import is_outage
from proxy.memory.storage.history import History
from tests.conftest import ProxyFactory, wait_until

EMBEDDER = "test-embedder"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _memory(user: str, number: int, text: str | None = None) -> Memory:
    return Memory(
        id=f"{user}-{number}",
        text=text or f"fact {number} of {user}",
        scope=Scope(user_id=user),
        created_at=NOW,
        occurred_at=NOW,
    )


def _vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _collections(path: Path) -> set[str]:
    client = chromadb.PersistentClient(
        path=str(path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    return {c.name for c in client.list_collections()}


def _same_shard_users() -> tuple[str, str]:
    users = (f"user-{i}" for i in itertools.count())
    first = next(users)
    return first, next(u for u in users if shard_of(u) == shard_of(first))


def test_the_shard_of_a_user_is_stable_and_users_spread() -> None:
    assert shard_of("alice") == shard_of("alice")
    assert shard_of("alice") == 9  # fixed by the hash: a change would orphan stored memories
    assert len({shard_of(f"user-{i}") for i in range(1000)}) == SHARDS


def test_a_user_sharing_a_shard_still_reads_only_their_own_rows(tmp_path: Path) -> None:
    first, second = _same_shard_users()
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    memories = [_memory(first, i) for i in range(3)] + [_memory(second, i) for i in range(2)]
    store.upsert(memories, _vectors(len(memories)))
    loaded, vectors = store.load_user(first)
    assert sorted(m.id for m in loaded) == [f"{first}-{i}" for i in range(3)]
    assert vectors.shape == (3, 8)
    assert sorted(m.id for m in store.load_user(second)[0]) == [f"{second}-0", f"{second}-1"]


def test_whole_store_reads_cover_every_shard(tmp_path: Path) -> None:
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    users = [f"user-{i}" for i in range(40)]
    assert len({shard_of(u) for u in users}) > 10
    memories = [_memory(u, 0) for u in users]
    store.upsert(memories, _vectors(len(memories)))
    assert store.count() == 40
    assert sorted(m.id for page in store.scan(batch=7) for m in page) == sorted(
        m.id for m in memories
    )
    assert {m.id for m in store.get(["user-3-0", "user-17-0", "nobody-0"])} == {
        "user-3-0",
        "user-17-0",
    }
    store.delete("user-3", ["user-3-0"])
    assert store.count() == 39
    assert store.load_user("user-3")[0] == []


def test_reads_do_not_create_collections(tmp_path: Path) -> None:
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    before = _collections(tmp_path)
    reader = next(f"user-{i}" for i in itertools.count() if shard_of(f"user-{i}") != 0)
    memories, vectors = store.load_user(reader)
    assert memories == [] and len(vectors) == 0
    assert store.get(["x"]) == []
    assert store.count() == 0
    assert _collections(tmp_path) == before  # only shard 0, opened to check the embedder


def test_recently_active_users_are_loaded_again_at_start(
    tmp_path: Path, make_proxy: ProxyFactory
) -> None:
    """After a restart the users who were active last are loaded in the background, before
    their first request (a big user's load would not fit in a request's retrieval budget)."""
    data = tmp_path / "restart"
    before = make_proxy(data_dir=data)
    before.tell("ines", "I keep bees in my garden.")
    before.tell("omar", "I play the cello on Sundays.")
    before.close()
    before.server.stop()
    after = make_proxy(data_dir=data, retrieval={"preload_users": 1})

    def cache() -> dict[str, int]:
        return after.http.get("/healthz").json()["memory"]["index_cache"]

    wait_until(lambda: cache()["users"] == 1)
    assert cache()["memories"] == 1  # omar, the most recent; one user allowed
    answer = after.client("omar").chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "When do I play the cello?"}]
    )
    assert answer.headers["x-memory-status"] == "injected"
    assert cache()["users"] == 1  # served from the preloaded index


def _service(path: Path, embedder: MiniLMEmbedder) -> MemoryService:
    return MemoryService(
        store=ChromaStore.connect(path, None, embedder.name),
        embedder=embedder,
        history=History(path / "history.sqlite3"),
        selection=SelectionParams(),
    )


def test_a_write_batch_stores_its_turns_together_and_the_last_word_wins(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    service = _service(tmp_path, embedder)
    scope = Scope(user_id="lea")
    with service.batched_writes():
        service.remember_blocking(scope, [Fact("I live in Oslo.", "fact")], None, source="t1")
        service.remember_blocking(scope, [Fact("I play the cello.", "fact")], None, source="t2")
        # Seen by searches at once, before the batch is written:
        hits = service.search_blocking(scope, "Where do I live?")
        assert hits[0].memory.text == "I live in Oslo."
        assert service.store.count() == 0
        service.forget_blocking(scope, "I live in Oslo.")
    stored, _ = service.store.load_user("lea")
    assert [m.text for m in stored] == ["I play the cello."]  # added then forgotten: never stored
    oslo = service.history.of(memory_id("t1", 0))
    assert [e.event for e in oslo] == ["ADD", "DELETE"]


def test_a_user_larger_than_one_read_page_is_loaded_whole(tmp_path: Path) -> None:
    first, second = _same_shard_users()
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    mine = [_memory(first, i) for i in range(LOAD_PAGE + 1)]
    vectors = _vectors(len(mine), seed=1)
    store.upsert(mine, vectors)
    store.upsert([_memory(second, 0)], _vectors(1, seed=2))
    loaded, loaded_vectors = store.load_user(first)
    assert len(loaded) == LOAD_PAGE + 1
    assert {m.id for m in loaded} == {m.id for m in mine}
    by_id = {m.id: row for row, m in enumerate(mine)}
    for memory, vector in zip(loaded, loaded_vectors, strict=True):
        assert np.allclose(vector, vectors[by_id[memory.id]], atol=1e-6)


def test_a_wrong_call_is_a_bug_that_surfaces_as_itself(tmp_path: Path) -> None:
    """Not an outage (the writer would wait for the store forever): the error itself, which
    the writer retries a few times and then parks with the reason."""
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    store.upsert([_memory("ana", 1)], _vectors(1))
    with pytest.raises(InvalidArgumentError, match="dimension"):
        store.upsert([_memory("ana", 2)], np.ones((1, 3), dtype=np.float32))
    assert [m.id for m in store.load_user("ana")[0]] == ["ana-1"]


def test_a_damaged_store_file_is_an_outage(tmp_path: Path) -> None:
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    store.upsert([_memory("ana", 1)], _vectors(1))
    database = tmp_path / "chroma" / "chroma.sqlite3"
    database.write_bytes(bytes(database.stat().st_size))
    with pytest.raises(MemoryUnavailable, match="file is not a database"):
        store.load_user("ana")
    with pytest.raises(MemoryUnavailable):
        store.upsert([_memory("ana", 2)], _vectors(1))


def test_a_collection_deleted_under_the_store_is_opened_again(tmp_path: Path) -> None:
    store = ChromaStore.connect(tmp_path, None, EMBEDDER)
    store.upsert([_memory("ana", 1)], _vectors(1))
    assert len(store.load_user("ana")[0]) == 1
    other = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    other.delete_collection(f"{PREFIX}{shard_of('ana'):02d}")
    assert store.load_user("ana")[0] == []  # gone, not an error
    store.upsert([_memory("ana", 2)], _vectors(1))  # a write creates the shard again
    assert [m.id for m in store.load_user("ana")[0]] == ["ana-2"]


def _raised_while_handling(cause: Exception, error: Exception) -> Exception:
    try:
        try:
            raise cause
        except type(cause):
            raise error  # noqa: B904  (chromadb does this: the cause is only the context)
    except type(error) as raised:
        return raised


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (InternalError("Database error: (code: 26) file is not a database"), True),
        (InternalError("Error getting collection: (code: 14) unable to open database file"), True),
        (InternalError("Query error: (code: 1032) attempt to write a readonly database"), True),
        (InternalError("Error writing segment: No space left on device (os error 28)"), True),
        (InternalError("Database error: (code: 2067) UNIQUE constraint failed"), False),
        (NotFoundError("Collection [4c1b] does not exist."), True),
        (httpx.ConnectError("[Errno 111] Connection refused"), True),
        (
            _raised_while_handling(
                httpx.ConnectError("refused"), ValueError("Could not connect to a Chroma server.")
            ),
            True,
        ),
        (InvalidArgumentError("Collection expecting embedding with dimension of 8, got 3"), False),
        (ValueError("Expected where operator to be one of $gt, ..., got $bogus in get."), False),
        (TypeError("Collection.get() got an unexpected keyword argument 'bogus'"), False),
        (KeyError("user_id"), False),
    ],
)
def test_outages_are_told_from_bugs(error: Exception, outage: bool) -> None:
    assert is_outage(error) is outage
