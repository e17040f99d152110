"""The memory operations the proxy needs, over the durable store and the in-process index.

Methods ending in `_blocking` run model inference and storage I/O; the async methods hand them
to a worker thread so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from proxy.memory.embed import Embedder
from proxy.memory.index import IndexCache, UserIndex, nearest_in_exact_scope
from proxy.memory.models import Hit, Memory
from proxy.memory.retrieval import SelectionParams, select
from proxy.memory.store import ChromaStore
from proxy.scope import Scope

_ID_NAMESPACE = uuid.UUID("6f1d3c52-8a55-4c8e-9d0e-3b7c2a9e4f10")


class FactLike(Protocol):
    text: str
    kind: str


@dataclass(frozen=True)
class WriteResult:
    added: list[Memory]
    updated: list[Memory]


def memory_id(source: str, index: int) -> str:
    """Ids derive from the turn and the fact's position, so reprocessing a turn after a crash
    overwrites what the first attempt wrote instead of adding copies."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}:{index}"))


class MemoryService:
    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        selection: SelectionParams,
        candidates: int = 50,
        dedup_similarity: float = 0.92,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.selection = selection
        self.candidates = candidates
        self.dedup_similarity = dedup_similarity
        self._clock = clock
        self._cache = IndexCache(self._load_user)

    # --- reads -----------------------------------------------------------------------------

    async def search(self, scope: Scope, query: str, top_k: int | None = None) -> list[Hit]:
        return await asyncio.to_thread(self.search_blocking, scope, query, top_k)

    def search_blocking(self, scope: Scope, query: str, top_k: int | None = None) -> list[Hit]:
        if not query.strip():
            return []
        index = self._cache.get(scope.user_id)
        if len(index) == 0:
            return []  # nothing stored: skip the embedding model entirely
        vector = self.embedder.embed([query], "query")[0]
        found = index.candidates(scope, vector, query, self.candidates)
        params = self.selection if top_k is None else replace(self.selection, top_k=top_k)
        return select(found, params)

    async def list(self, scope: Scope) -> list[Memory]:
        return await asyncio.to_thread(self.list_blocking, scope)

    def list_blocking(self, scope: Scope) -> list[Memory]:
        memories = self._cache.get(scope.user_id).all(scope)
        return sorted(memories, key=lambda m: (m.occurred_at, m.id))

    # --- writes ----------------------------------------------------------------------------

    def remember_blocking(
        self,
        scope: Scope,
        facts: Sequence[FactLike],
        occurred_at: datetime | None,
        source: str,
    ) -> WriteResult:
        """Store facts; a fact close to one already stored under the same scope updates it."""
        if not facts:
            return WriteResult([], [])
        now = self._clock()
        when = occurred_at or now
        vectors = self.embedder.embed([fact.text for fact in facts], "passage")
        index = self._cache.get(scope.user_id)
        added: dict[str, Memory] = {}
        updated: dict[str, Memory] = {}
        for position, (fact, vector) in enumerate(zip(facts, vectors, strict=True)):
            nearest = nearest_in_exact_scope(index, scope, vector)
            if nearest is not None and nearest[1] >= self.dedup_similarity:
                old = nearest[0]
                memory = replace(
                    old,
                    text=fact.text,
                    kind=fact.kind,
                    occurred_at=max(old.occurred_at, when),
                    updated_at=now,
                    source=source,
                )
                (added if old.id in added else updated)[memory.id] = memory
            else:
                memory = Memory(
                    id=memory_id(source, position),
                    text=fact.text,
                    scope=scope,
                    created_at=now,
                    occurred_at=when,
                    kind=fact.kind,
                    source=source,
                )
                added[memory.id] = memory
            # The index learns each memory at once so later facts of this turn dedupe against it;
            # the store is written below and the index is rebuilt from it if that fails.
            index.upsert([memory], vector[None, :])
        changed = [*added.values(), *updated.values()]
        try:
            self.store.upsert(changed, self._vectors_of(index, changed))
        except Exception:
            self._cache.drop(scope.user_id)
            raise
        return WriteResult(list(added.values()), list(updated.values()))

    def delete_blocking(self, user_id: str, ids: Sequence[str]) -> None:
        self.store.delete(ids)
        self._cache.get(user_id).remove(ids)

    def _vectors_of(self, index: UserIndex, memories: Sequence[Memory]) -> np.ndarray:
        rows = [index.vector(m.id) for m in memories]
        return np.stack([row for row in rows if row is not None])

    def _load_user(self, user_id: str) -> UserIndex:
        memories, vectors = self.store.load_user(user_id)
        index = UserIndex(user_id, self.embedder.dim)
        if memories:
            index.upsert(memories, vectors)
        return index

    def warm_up(self) -> None:
        """Load the model and touch the store before the first request, not during it."""
        self.embedder.embed(["warm up"], "passage")
        self.store.count()

    def forget_blocking(self, scope: Scope, target: str, min_similarity: float = 0.6) -> list[str]:
        """Delete the memories of this scope that match what the user asked to forget."""
        params = replace(
            self.selection, top_k=5, min_similarity=min_similarity, min_keyword_coverage=0.6
        )
        index = self._cache.get(scope.user_id)
        if len(index) == 0 or not target.strip():
            return []
        vector = self.embedder.embed([target], "query")[0]
        hits = select(index.candidates(scope, vector, target, self.candidates), params)
        ids = [hit.memory.id for hit in hits]
        if ids:
            self.delete_blocking(scope.user_id, ids)
        return ids
