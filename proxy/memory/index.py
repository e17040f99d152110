"""One user's memories held in process: vectors for exact cosine search and a BM25 index.

A user has hundreds to thousands of memories; an exact matrix product over them takes well under
a millisecond, while a filtered query over a shared chromadb collection grows with the whole
collection (137 ms at 200k items). So chromadb is the durable store and this is the hot path.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from proxy.memory.lexical import Bm25Index, tokenize
from proxy.memory.models import Memory
from proxy.scope import Scope


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
        self._vectors = np.zeros((16, dim), dtype=np.float32)
        self._active = np.zeros(16, dtype=bool)  # present and not superseded
        self._expires = np.full(16, math.inf)  # epoch seconds; inf = never
        self._rows: dict[str, int] = {}
        self._bm25 = Bm25Index()

    def __len__(self) -> int:
        return len(self._rows)

    def upsert(self, memories: Sequence[Memory], vectors: np.ndarray) -> None:
        with self.lock:
            for memory, vector in zip(memories, vectors, strict=True):
                if memory.scope.user_id != self.user_id:
                    raise ValueError("memory of another user offered to this user's index")
                row = self._rows.get(memory.id)
                if row is None:
                    row = len(self._memories)
                    self._memories.append(memory)
                    self._rows[memory.id] = row
                    if row >= len(self._vectors):
                        self._grow()
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

    def _grow(self) -> None:
        size = len(self._vectors) * 2
        vectors = np.zeros((size, self._vectors.shape[1]), np.float32)
        vectors[: len(self._vectors)] = self._vectors
        self._vectors = vectors
        self._active = np.concatenate([self._active, np.zeros_like(self._active)])
        self._expires = np.concatenate([self._expires, np.full(len(self._expires), math.inf)])

    def remove(self, ids: Sequence[str]) -> None:
        with self.lock:
            for memory_id in ids:
                row = self._rows.pop(memory_id, None)
                if row is not None:
                    self._memories[row] = None
                    self._vectors[row] = 0.0
                    self._active[row] = False
                    self._bm25.remove(row)

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

    def exact_scope(self, scope: Scope, now: datetime) -> tuple[list[Memory], np.ndarray]:
        """Live memories stored under exactly this scope, with their vectors (for writes)."""
        with self.lock:
            rows = [
                row
                for row, m in enumerate(self._memories)
                if m is not None and m.scope == scope and m.live(now)
            ]
            return [self._memories[row] for row in rows], self._vectors[rows].copy()  # type: ignore[misc]

    def candidates(
        self, scope: Scope, query_vector: np.ndarray | None, query: str, limit: int, now: datetime
    ) -> Candidates:
        """The best `limit` live memories by cosine and by BM25, restricted to `scope`."""
        with self.lock:
            n = len(self._memories)
            mask = self._active[:n] & (self._expires[:n] > now.timestamp())
            if scope.session_id is not None or scope.agent_id is not None:
                for row in np.flatnonzero(mask).tolist():
                    if not in_scope(self._memories[row], scope):  # type: ignore[arg-type]
                        mask[row] = False
            if not mask.any():
                return Candidates(
                    [], np.zeros((0, self._vectors.shape[1])), np.zeros(0), {}, {}, {}
                )
            # BM25 holds active rows only: a filter is needed just when some are out of scope.
            allowed = None if mask.sum() == len(self._bm25) else mask
            dense_rows: list[int] = []
            if query_vector is not None:
                sims = self._vectors[:n] @ query_vector  # a view: no copy of the matrix
                sims[~mask] = -np.inf
                top = min(limit, int(mask.sum()))
                order = np.argpartition(-sims, top - 1)[:top]
                dense_rows = [int(row) for row in order[np.argsort(-sims[order])]]
            lexical = self._bm25.search(tokenize(query), allowed=allowed, limit=limit)
            picked = list(dict.fromkeys([*dense_rows, *(doc for doc, _, _ in lexical)]))
            memories = [self._memories[row] for row in picked]
            vectors = self._vectors[picked].copy()
        similarities = (
            vectors @ query_vector
            if query_vector is not None
            else np.zeros(len(picked), dtype=np.float32)
        )
        position = {row: i for i, row in enumerate(picked)}
        return Candidates(
            memories=memories,  # type: ignore[arg-type]
            vectors=vectors,
            similarities=similarities,
            dense_rank={position[row]: rank for rank, row in enumerate(dense_rows)},
            lexical_rank={position[doc]: rank for rank, (doc, _, _) in enumerate(lexical)},
            lexical_coverage={position[doc]: coverage for doc, _, coverage in lexical},
        )


class IndexCache:
    """Loaded user indexes, least recently used evicted past `max_memories` rows in total."""

    def __init__(self, load: Callable[[str], UserIndex], max_memories: int = 2_000_000) -> None:
        self._load = load
        self._max = max_memories
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, user_id: str) -> UserIndex:
        with self._lock:
            index = self._indexes.get(user_id)
            if index is not None:
                self._indexes.move_to_end(user_id)
                return index
            loading = self._loading.setdefault(user_id, threading.Lock())
        with loading:  # one load per user even when several requests arrive at once
            with self._lock:
                index = self._indexes.get(user_id)
            if index is None:
                index = self._load(user_id)
                with self._lock:
                    self._indexes[user_id] = index
                    self._loading.pop(user_id, None)
                    self._evict()
        return index

    def peek(self, user_id: str) -> UserIndex | None:
        with self._lock:
            return self._indexes.get(user_id)

    def drop(self, user_id: str) -> None:
        with self._lock:
            self._indexes.pop(user_id, None)

    def _evict(self) -> None:
        total = sum(len(index) for index in self._indexes.values())
        while total > self._max and len(self._indexes) > 1:
            _, evicted = self._indexes.popitem(last=False)
            total -= len(evicted)
