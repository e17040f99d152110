"""One user's memories held in process: vectors for exact cosine search and a BM25 index.

A user has hundreds to thousands of memories; an exact matrix product over them takes well under
a millisecond, while a filtered query over a shared chromadb collection grows with the whole
collection (137 ms at 200k items). So chromadb is the durable store and this is the hot path.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.memory.extract.attributes import attribute_of
from proxy.memory.recall.lexical import Bm25Index, tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidates:
    memories: list[Memory]
    vectors: np.ndarray  # rows aligned with memories
    similarities: np.ndarray  # cosine similarity to the query, aligned with memories
    dense_rank: dict[int, int]  # position in `memories` -> rank among dense results (0 = best)
    lexical_rank: dict[int, int]
    lexical_coverage: dict[int, float]  # share of the query's keyword weight the memory matched


def in_scope(memory: Memory, scope: Scope) -> bool:
    """A read sees the user's memories, narrowed to the session and agent where they are given."""
    return (
        memory.scope.user_id == scope.user_id
        and (scope.session_id is None or memory.scope.session_id == scope.session_id)
        and (scope.agent_id is None or memory.scope.agent_id == scope.agent_id)
    )


class UserIndex:
    """Rows are never reordered; deleted rows become tombstones, so row numbers stay stable.
    Superseded memories stay (for listing with history) but are not searchable."""

    def __init__(self, user_id: str, dim: int) -> None:
        self.user_id = user_id
        self.lock = threading.Lock()
        self._memories: list[Memory | None] = []
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._active = np.zeros(0, dtype=bool)  # present and not superseded
        self._expires = np.full(0, math.inf)  # epoch seconds; inf = never
        self._rows: dict[str, int] = {}
        self._attributes: dict[int, str] = {}  # row -> single-valued attribute it sets
        self._bm25 = Bm25Index()
        self.version = 0  # bumped by every change: a background reload checks it

    def __len__(self) -> int:
        return len(self._rows)

    def mark_changed(self) -> None:
        """A change of this user reached the store: a reload that began before it is stale."""
        with self.lock:
            self.version += 1

    def upsert(self, memories: Sequence[Memory], vectors: np.ndarray) -> None:
        with self.lock:
            self.version += 1
            self._reserve(len(self._memories) + len(memories))
            for memory, vector in zip(memories, vectors, strict=True):
                if memory.scope.user_id != self.user_id:
                    raise ValueError("memory of another user offered to this user's index")
                row = self._rows.get(memory.id)
                if row is None:
                    row = len(self._memories)
                    self._memories.append(memory)
                    self._rows[memory.id] = row
                else:
                    self._memories[row] = memory
                self._vectors[row] = vector
                active = memory.status == "active"
                self._active[row] = active
                self._expires[row] = (
                    memory.expires_at.timestamp() if memory.expires_at else math.inf
                )
                if active:
                    self._bm25.add(row, tokenize(memory.text))
                else:
                    self._bm25.remove(row)
                key = attribute_of(memory.text)
                if key is None:
                    self._attributes.pop(row, None)
                else:
                    self._attributes[row] = key

    def _reserve(self, rows: int) -> None:
        """Room for `rows` rows. A user loaded from the store gets exactly their rows; later
        growth adds a quarter (doubling left up to half of a large user's vectors unused:
        measured 2.6 KB of vectors per 1.5 KB memory vector at 10k memories)."""
        capacity = len(self._vectors)
        if rows <= capacity:
            return
        size = max(rows, capacity + capacity // 4 + 16)
        vectors = np.zeros((size, self._vectors.shape[1]), np.float32)
        vectors[:capacity] = self._vectors
        self._vectors = vectors  # a search holding the old array keeps a valid snapshot
        self._active = np.concatenate([self._active, np.zeros(size - capacity, dtype=bool)])
        self._expires = np.concatenate([self._expires, np.full(size - capacity, math.inf)])

    def remove(self, ids: Sequence[str]) -> None:
        with self.lock:
            self.version += 1
            for memory_id in ids:
                row = self._rows.pop(memory_id, None)
                if row is not None:
                    self._memories[row] = None
                    self._vectors[row] = 0.0
                    self._active[row] = False
                    self._bm25.remove(row)
                    self._attributes.pop(row, None)

    def get(self, memory_id: str) -> Memory | None:
        with self.lock:
            row = self._rows.get(memory_id)
            return None if row is None else self._memories[row]

    def all(self, scope: Scope) -> list[Memory]:
        with self.lock:
            return [m for m in self._memories if m is not None and in_scope(m, scope)]

    def vector(self, memory_id: str) -> np.ndarray | None:
        with self.lock:
            row = self._rows.get(memory_id)
            return None if row is None else self._vectors[row].copy()

    def _live_mask(self, scope: Scope, now: datetime, exact: bool) -> np.ndarray:
        """Rows alive now and in scope (`exact`: stored under exactly this scope). Hold the lock."""
        n = len(self._memories)
        mask = self._active[:n] & (self._expires[:n] > now.timestamp())
        if exact or scope.session_id is not None or scope.agent_id is not None:
            match = (lambda m: m.scope == scope) if exact else (lambda m: in_scope(m, scope))
            for row in np.flatnonzero(mask).tolist():
                if not match(self._memories[row]):
                    mask[row] = False
        return mask

    def nearest(
        self, scope: Scope, vector: np.ndarray, now: datetime
    ) -> tuple[Memory, float] | None:
        """The live memory most similar to `vector` under exactly this scope (write dedup)."""
        with self.lock:
            mask = self._live_mask(scope, now, exact=True)
            if not mask.any():
                return None
            sims = self._vectors[: len(mask)] @ vector
            sims[~mask] = -np.inf
            row = int(np.argmax(sims))
            return self._memories[row], float(sims[row])  # type: ignore[return-value]

    def with_attribute(self, scope: Scope, key: str, now: datetime) -> list[Memory]:
        """Live memories under exactly this scope that set the same single-valued attribute."""
        with self.lock:
            rows = [row for row, k in self._attributes.items() if k == key]
            expiry = now.timestamp()
            return [
                m
                for m in (self._memories[row] for row in rows)
                if m is not None
                and m.scope == scope
                and m.status == "active"
                and self._expires[self._rows[m.id]] > expiry
            ]

    def candidates(
        self, scope: Scope, query_vector: np.ndarray | None, query: str, limit: int, now: datetime
    ) -> Candidates:
        """The best `limit` live memories by cosine and by BM25, restricted to `scope`."""
        tokens = tokenize(query)
        with self.lock:
            mask = self._live_mask(scope, now, exact=False)
            if not mask.any():
                return Candidates(
                    [], np.zeros((0, self._vectors.shape[1])), np.zeros(0), {}, {}, {}
                )
            # BM25 holds active rows only: a filter is needed just when some are out of scope.
            allowed = None if mask.sum() == len(self._bm25) else mask
            lexical = self._bm25.search(tokens, allowed=allowed, limit=limit)
            vectors = self._vectors  # rows < len(mask) are only ever rewritten in place
            memories_ref = self._memories
        # The matrix product runs outside the lock (numpy releases the GIL), so concurrent
        # requests of one user search in parallel instead of queueing.
        dense_rows: list[int] = []
        if query_vector is not None:
            sims = vectors[: len(mask)] @ query_vector
            sims[~mask] = -np.inf
            top = min(limit, int(mask.sum()))
            order = np.argpartition(-sims, top - 1)[:top]
            dense_rows = [int(row) for row in order[np.argsort(-sims[order])]]
        picked = [
            row
            for row in dict.fromkeys([*dense_rows, *(doc for doc, _, _ in lexical)])
            if memories_ref[row] is not None  # deleted since the snapshot
        ]
        memories = [memories_ref[row] for row in picked]
        picked_vectors = vectors[picked]
        similarities = (
            picked_vectors @ query_vector
            if query_vector is not None
            else np.zeros(len(picked), dtype=np.float32)
        )
        position = {row: i for i, row in enumerate(picked)}
        return Candidates(
            memories=memories,  # type: ignore[arg-type]
            vectors=picked_vectors,
            similarities=similarities,
            dense_rank={position[row]: rank for rank, row in enumerate(dense_rows)},
            lexical_rank={position[doc]: rank for rank, (doc, _, _) in enumerate(lexical)},
            lexical_coverage={position[doc]: coverage for doc, _, coverage in lexical},
        )


class IndexCache:
    """Loaded user indexes, least recently used evicted past `max_memories` rows in total.

    With `max_age_s` (a store shared by several proxy replicas), an index older than that is
    reloaded in the background while the current one keeps serving: another replica's writes
    show up within about `max_age_s`, and no request waits for the reload."""

    def __init__(
        self,
        load: Callable[[str], UserIndex],
        max_memories: int = 2_000_000,
        max_age_s: float | None = None,
    ) -> None:
        self._load = load
        self._max = max_memories
        self._max_age = max_age_s
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()
        self._loaded_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self._held: dict[str, int] = {}  # users with changes not yet in the store
        self._refresher: ThreadPoolExecutor | None = None

    def get(self, user_id: str) -> UserIndex:
        with self._lock:
            index = self._indexes.get(user_id)
            if index is not None:
                self._indexes.move_to_end(user_id)
                self._refresh_if_old(user_id, index)
                return index
            loading = self._loading.setdefault(user_id, threading.Lock())
        with loading:  # one load per user even when several requests arrive at once
            with self._lock:
                index = self._indexes.get(user_id)
            if index is None:
                started = time.monotonic()
                index = self._load(user_id)
                with self._lock:
                    self._indexes[user_id] = index
                    self._loaded_at[user_id] = started
                    self._loading.pop(user_id, None)
                    self._evict()
        return index

    def peek(self, user_id: str) -> UserIndex | None:
        with self._lock:
            return self._indexes.get(user_id)

    def drop(self, user_id: str) -> None:
        with self._lock:
            self._indexes.pop(user_id, None)
            self._loaded_at.pop(user_id, None)

    def hold(self, user_id: str) -> None:
        """Keep this user's index as it is (no eviction, no background reload) until
        `release`: it holds changes the store does not have yet."""
        with self._lock:
            self._held[user_id] = self._held.get(user_id, 0) + 1

    def release(self, user_id: str) -> None:
        with self._lock:
            left = self._held.get(user_id, 0) - 1
            if left > 0:
                self._held[user_id] = left
            else:
                self._held.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._loaded_at.clear()

    def stats(self) -> dict[str, int]:
        with self._lock:
            indexes = list(self._indexes.values())
        return {
            "users": len(indexes),
            "memories": sum(len(index) for index in indexes),
            "max_memories": self._max,
        }

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.shutdown(wait=False, cancel_futures=True)

    def _refresh_if_old(self, user_id: str, index: UserIndex) -> None:
        """Hold the lock."""
        if self._max_age is None or user_id in self._refreshing or user_id in self._held:
            return
        if time.monotonic() - self._loaded_at.get(user_id, 0.0) < self._max_age:
            return
        if self._refresher is None:
            self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="index-reload")
        self._refreshing.add(user_id)
        self._refresher.submit(self._refresh, user_id, index, index.version)

    def _refresh(self, user_id: str, stale: UserIndex, version: int) -> None:
        started = time.monotonic()
        try:
            fresh = self._load(user_id)
        except Exception:
            log.warning("reloading the memories of a user failed; serving the cached ones")
            fresh = None
        with self._lock:
            self._refreshing.discard(user_id)
            if self._indexes.get(user_id) is not stale or user_id in self._held:
                return  # dropped or replaced meanwhile, or holding unstored changes
            if fresh is None:
                self._loaded_at[user_id] = started  # back off for max_age before trying again
            elif stale.version == version:
                self._indexes[user_id] = fresh
                self._loaded_at[user_id] = started
                self._evict()
            # else: this process changed the index during the reload, which may have missed
            # that change; keep the cached one and reload on a later request.

    def _evict(self) -> None:
        total = sum(len(index) for index in self._indexes.values())
        if total <= self._max:
            return
        for user_id in list(self._indexes):  # least recently used first
            if total <= self._max or len(self._indexes) <= 1:
                break
            if user_id in self._held:
                continue
            evicted = self._indexes.pop(user_id)
            self._loaded_at.pop(user_id, None)
            total -= len(evicted)
