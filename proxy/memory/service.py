"""The memory operations the proxy needs, over the durable store and the in-process index.

Methods ending in `_blocking` run model inference and storage I/O; the async routes hand them
to a worker thread so the event loop never waits on them. Every change is recorded in history.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from proxy.core.records import Hit, Memory
from proxy.core.scope import Scope
from proxy.core.times import not_after
from proxy.memory.embed.base import Embedder
from proxy.memory.extract.attributes import attribute_of
from proxy.memory.recall.index import IndexCache, UserIndex
from proxy.memory.recall.retrieval import SelectionParams, select
from proxy.memory.storage.chroma import ChromaStore
from proxy.memory.storage.history import Event, History

_ID_NAMESPACE = uuid.UUID("6f1d3c52-8a55-4c8e-9d0e-3b7c2a9e4f10")


class FactLike(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass
class WriteResult:
    added: list[Memory] = field(default_factory=list)
    updated: list[Memory] = field(default_factory=list)
    superseded: list[Memory] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def take(self, other: WriteResult) -> None:
        """Add another write's outcome to this one (several writes behind one API call)."""
        self.added += other.added
        self.updated += other.updated
        self.superseded += other.superseded
        self.deleted += other.deleted


def memory_id(source: str, index: int) -> str:
    """Ids derive from the turn and the fact's position, so reprocessing a turn after a crash
    overwrites what the first attempt wrote instead of adding copies."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}:{index}"))


class MemoryService:
    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        history: History,
        selection: SelectionParams,
        candidates: int = 50,
        dedup_similarity: float = 0.92,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_s: float | None = None,
        cache_memories: int = 500_000,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.history = history
        self.selection = selection
        self.candidates = candidates
        self.dedup_similarity = dedup_similarity
        self.clock = clock
        # refresh_s: the store is shared with other replicas, whose writes a cached index lacks.
        self._cache = IndexCache(self._load_user, cache_memories, max_age_s=refresh_s)
        store.on_reconnect = self._cache.clear  # a restored store may be an older copy
        self.cache_memories = cache_memories
        self._batch = _ThreadBatch()
        self._closing = False

    # --- reads -----------------------------------------------------------------------------

    async def search(self, scope: Scope, query: str, top_k: int | None = None) -> list[Hit]:
        return await asyncio.to_thread(self.search_blocking, scope, query, top_k)

    def search_blocking(
        self,
        scope: Scope,
        query: str,
        top_k: int | None = None,
        params: SelectionParams | None = None,
    ) -> list[Hit]:
        if not query.strip():
            return []
        index = self._cache.get(scope.user_id)
        if len(index) == 0:
            return []  # nothing stored: skip the embedding model entirely
        vector = self.embedder.embed([query], "query")[0]
        found = index.candidates(scope, vector, query, self.candidates, self.clock())
        params = params or self.selection
        if top_k is not None:
            params = replace(params, top_k=top_k)
        return select(found, params)

    def list_blocking(self, scope: Scope, include_inactive: bool = False) -> list[Memory]:
        now = self.clock()
        memories = [
            m
            for m in self._cache.get(scope.user_id).all(scope)
            if m.live(now) or (include_inactive and m.status != "active")
        ]
        return sorted(memories, key=lambda m: (m.created_at, m.id))

    def get_blocking(self, memory_id: str) -> Memory | None:
        found = self.store.get([memory_id])
        return found[0] if found else None

    def scan_blocking(self) -> Iterator[list[Memory]]:
        return self.store.scan()

    # --- writes ----------------------------------------------------------------------------

    def remember_blocking(
        self,
        scope: Scope,
        facts: Sequence[FactLike],
        occurred_at: datetime | None,
        source: str,
        extractor: str = "offline",
        expires_at: datetime | None = None,
    ) -> WriteResult:
        """Store facts. A fact close to a live one of the same scope updates it; a fact that sets
        a single-valued attribute (where the user lives, ...) supersedes the older statement."""
        result = WriteResult()
        if not facts:
            return result
        now = self.clock()
        # A time ahead of now (clock skew, or a client's claim) is stored as now: a statement
        # dated in the future would otherwise outrank everything the user says until then.
        when = not_after(occurred_at or now, now)
        vectors = self.embedder.embed([fact.text for fact in facts], "passage")
        index = self._cache.get(scope.user_id)
        changed: dict[str, Memory] = {}
        events: list[Event] = []
        with_vectors: dict[str, np.ndarray] = {}
        for position, (fact, vector) in enumerate(zip(facts, vectors, strict=True)):
            nearest = index.nearest(scope, vector, now)
            duplicate = nearest[0] if nearest and nearest[1] >= self.dedup_similarity else None
            if duplicate is not None:
                memory = replace(
                    duplicate,
                    text=fact.text,
                    kind=fact.kind,
                    occurred_at=max(duplicate.occurred_at, when),
                    updated_at=now,
                    source=source,
                    expires_at=expires_at or duplicate.expires_at,
                )
                if duplicate.text != fact.text:
                    events.append(
                        _event(
                            memory,
                            "UPDATE",
                            duplicate.text,
                            now,
                            source=source,
                            extractor=extractor,
                        )
                    )
                result.updated.append(memory)
            else:
                memory = Memory(
                    id=memory_id(source, position),
                    text=fact.text,
                    scope=scope,
                    created_at=now,
                    occurred_at=when,
                    kind=fact.kind,
                    source=source,
                    expires_at=expires_at,
                )
                events.append(_event(memory, "ADD", None, now, source=source, extractor=extractor))
                result.added.append(memory)
                memory = self._settle_attribute(
                    memory, index, now, changed, events, result, extractor
                )
            changed[memory.id] = memory
            with_vectors[memory.id] = vector
            # The index learns each memory at once so later facts of this turn see it.
            index.upsert([memory], vector[None, :])
        self._persist(scope.user_id, index, list(changed.values()), with_vectors)
        self._record(events)
        return result

    def _settle_attribute(
        self,
        memory: Memory,
        index: UserIndex,
        now: datetime,
        changed: dict[str, Memory],
        events: list[Event],
        result: WriteResult,
        extractor: str,
    ) -> Memory:
        """Newest wins on a single-valued attribute: the older statement is superseded."""
        key = attribute_of(memory.text)
        if key is None:
            return memory
        for other in index.with_attribute(memory.scope, key, now):
            if other.id == memory.id:
                continue
            if not_after(other.occurred_at, now) <= memory.occurred_at:
                old = replace(other, status="superseded", superseded_by=memory.id, updated_at=now)
                changed[old.id] = old
                vector = index.vector(old.id)
                if vector is not None:
                    index.upsert([old], vector[None, :])
                events.append(
                    _event(
                        old, "SUPERSEDE", other.text, now, source=memory.source, extractor=extractor
                    )
                )
                result.superseded.append(old)
            else:  # an import of something said earlier than what we already know
                memory = replace(memory, status="superseded", superseded_by=other.id)
                events.append(
                    _event(
                        memory, "SUPERSEDE", memory.text, now, source=other.id, extractor=extractor
                    )
                )
        return memory

    def update_blocking(
        self,
        memory: Memory,
        text: str | None = None,
        metadata: dict[str, str] | None = None,
        expires_at: datetime | None = None,
        clear_expiry: bool = False,
        source: str = "api",
    ) -> Memory:
        now = self.clock()
        updated = replace(
            memory,
            text=text if text is not None else memory.text,
            metadata=metadata if metadata is not None else memory.metadata,
            expires_at=None if clear_expiry else (expires_at or memory.expires_at),
            updated_at=now,
        )
        index = self._cache.get(memory.scope.user_id)
        vector = (
            self.embedder.embed([updated.text], "passage")[0]
            if text is not None and text != memory.text
            else index.vector(memory.id)
        )
        if vector is None:
            vector = self.embedder.embed([updated.text], "passage")[0]
        index.upsert([updated], vector[None, :])
        self._persist(memory.scope.user_id, index, [updated], {updated.id: vector})
        self._record([_event(updated, "UPDATE", memory.text, now, source=source, extractor="api")])
        return updated

    def delete_blocking(self, memories: Sequence[Memory], source: str = "api") -> list[str]:
        if not memories:
            return []
        now = self.clock()
        ids = [m.id for m in memories]
        for user_id in {m.scope.user_id for m in memories}:
            mine = [m.id for m in memories if m.scope.user_id == user_id]
            batch = self._batch.current
            if batch is None:
                self.store.delete(user_id, mine)
            else:
                if user_id not in batch.users:
                    self._cache.hold(user_id)
                batch.delete(user_id, mine)
            self._cache.get(user_id).remove(mine)
        self._record([_event(m, "DELETE", m.text, now, source=source) for m in memories])
        return ids

    def erase_blocking(self, scope: Scope) -> int:
        """Delete every memory of a user (or of one session/agent) and their history."""
        memories = self._cache.get(scope.user_id).all(scope)
        self.store.delete(scope.user_id, [m.id for m in memories])
        self._cache.get(scope.user_id).remove([m.id for m in memories])
        if scope.session_id is None and scope.agent_id is None:
            self.history.erase_user(scope.user_id)
            self._cache.drop(scope.user_id)
        elif scope.agent_id is None:
            self.history.erase_user(scope.user_id, scope.session_id)
        return len(memories)

    def forget_blocking(self, scope: Scope, target: str, source: str = "forget") -> list[str]:
        """Delete the memories of this scope that match what the user asked to forget."""
        params = replace(self.selection, top_k=5, min_similarity=0.6, min_keyword_coverage=0.6)
        hits = self.search_blocking(scope, target, params=params)
        return self.delete_blocking([hit.memory for hit in hits], source=source)

    def import_blocking(self, memories: Sequence[Memory]) -> int:
        """Store memories as given (ids kept, so importing twice changes nothing)."""
        if not memories:
            return 0
        vectors = self.embedder.embed([m.text for m in memories], "passage")
        by_user: dict[str, list[int]] = {}
        for i, memory in enumerate(memories):
            by_user.setdefault(memory.scope.user_id, []).append(i)
        self.store.upsert(memories, vectors)
        for user_id, rows in by_user.items():
            index = self._cache.peek(user_id)
            if index is not None:
                index.upsert([memories[i] for i in rows], vectors[rows])
        return len(memories)

    def purge_expired_blocking(self) -> int:
        expired = self.store.expired_ids(self.clock())
        if not expired:
            return 0
        by_user: dict[str, list[str]] = {}
        for memory_id, user_id in expired:
            by_user.setdefault(user_id, []).append(memory_id)
        for user_id, ids in by_user.items():
            self.store.delete(user_id, ids)
            index = self._cache.peek(user_id)
            if index is not None:
                index.remove(ids)
        return len(expired)

    # --- plumbing --------------------------------------------------------------------------

    def _persist(
        self, user_id: str, index: UserIndex, memories: list[Memory], vectors: dict[str, np.ndarray]
    ) -> None:
        rows = [vectors.get(m.id) for m in memories]
        stacked = np.stack(
            [
                row if row is not None else index.vector(m.id)
                for row, m in zip(rows, memories, strict=True)
            ]  # type: ignore[misc]
        )
        batch = self._batch.current
        if batch is not None:
            if user_id not in batch.users:
                self._cache.hold(user_id)  # not evicted or reloaded before the batch is stored
            batch.upsert(memories, stacked)
            return
        try:
            self.store.upsert(memories, stacked)
        except Exception:
            self._cache.drop(user_id)  # the index ran ahead of the store: reload it next time
            raise
        index.mark_changed()

    def _record(self, events: list[Event]) -> None:
        batch = self._batch.current
        if batch is None:
            self.history.record(events)
        else:
            batch.events += events

    @contextmanager
    def batched_writes(self) -> Iterator[None]:
        """Within this block (in this thread), store and history writes are collected and made
        at its end in one call per shard and one transaction. chromadb spends ~9 ms per call
        whatever its size (measured: 1 row 9 ms, 20 rows 12 ms), so the writer groups turns.
        Searches see the changes at once (the in-process index is updated as before). If the
        block or the final writes fail, the users touched are reloaded from the store."""
        batch = WriteBatch()
        self._batch.current = batch
        try:
            yield
            for user_id, ids in batch.deletes_by_user().items():
                self.store.delete(user_id, ids)
            memories, vectors = batch.upserts()
            self.store.upsert(memories, vectors)
            self.history.record(batch.events)
        except BaseException:
            for user_id in batch.users:
                self._cache.drop(user_id)
            raise
        finally:
            self._batch.current = None
            for user_id in batch.users:
                self._cache.release(user_id)
        for user_id in batch.users:
            index = self._cache.peek(user_id)
            if index is not None:
                index.mark_changed()

    def _load_user(self, user_id: str) -> UserIndex:
        memories, vectors = self.store.load_user(user_id)
        index = UserIndex(user_id, self.embedder.dim)
        if memories:
            index.upsert(memories, vectors)
        return index

    def cache_stats(self) -> dict[str, int]:
        """Users and memories held in process for search."""
        return self._cache.stats()

    def close(self) -> None:
        self._closing = True  # ends a preload still running
        self._cache.close()

    def preload_blocking(self, max_users: int) -> tuple[int, int]:
        """After a restart, load the indexes of the users active most recently (a user with
        10k memories takes ~1 s to read back from chromadb, past a request's retrieval budget),
        up to half the cache. Returns (users, memories) loaded."""
        self.store.warm_shards()
        users = rows = 0
        for user_id in self.history.recent_users(max_users):
            if rows >= self.cache_memories // 2 or self._closing:
                break
            rows += len(self._cache.get(user_id))
            users += 1
        return users, rows

    def warm_up(self) -> None:
        """Load the model and touch the store before the first request, not during it."""
        self.embedder.embed(["warm up"], "passage")
        self.embedder.embed(["warm up"], "query")
        # A filtered read makes chromadb load its segments now: the first search after a restart
        # took 1.3 s at 315k memories without this (bench/scale.py).
        self.store.load_user("\x00warm-up")


class WriteBatch:
    """Store and history writes collected by `MemoryService.batched_writes`; per memory id the
    last operation wins (a memory added then forgotten in one batch is never stored)."""

    def __init__(self) -> None:
        self._ops: dict[str, tuple[str, Memory | None, np.ndarray | None]] = {}
        self.events: list[Event] = []
        self.users: set[str] = set()

    def upsert(self, memories: Sequence[Memory], vectors: np.ndarray) -> None:
        for memory, vector in zip(memories, vectors, strict=True):
            self._ops.pop(memory.id, None)  # re-inserted last: the batch keeps write order
            self._ops[memory.id] = (memory.scope.user_id, memory, vector)
            self.users.add(memory.scope.user_id)

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        for memory_id in ids:
            self._ops.pop(memory_id, None)
            self._ops[memory_id] = (user_id, None, None)
        self.users.add(user_id)

    def deletes_by_user(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for memory_id, (user_id, memory, _) in self._ops.items():
            if memory is None:
                out.setdefault(user_id, []).append(memory_id)
        return out

    def upserts(self) -> tuple[list[Memory], np.ndarray]:
        kept = [(m, v) for _, m, v in self._ops.values() if m is not None and v is not None]
        if not kept:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [m for m, _ in kept], np.stack([v for _, v in kept])


class _ThreadBatch(threading.local):
    current: WriteBatch | None = None


def _event(
    memory: Memory,
    kind: str,
    old_text: str | None,
    at: datetime,
    *,
    source: str | None,
    extractor: str | None = None,
) -> Event:
    return Event(
        memory_id=memory.id,
        user_id=memory.scope.user_id,
        session_id=memory.scope.session_id,
        event=kind,
        old_text=old_text,
        new_text=None if kind == "DELETE" else memory.text,
        at=at,
        source=source,
        extractor=extractor,
    )
