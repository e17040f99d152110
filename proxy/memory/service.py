"""The memory operations the proxy needs, over the durable store and the in-process index.

Methods ending in `_blocking` run model inference and storage I/O: the async callers hand them to
a thread (retrieval to an executor of its own, so that a slow or timed-out search never holds the
threads the writer and the management API use). Every write goes through a unit of work
(proxy/memory/unit.py) and the write policy of proxy/memory/reconcile.py; every change is
recorded in history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from proxy.core.inject import line_cost
from proxy.core.language import needs_multilingual
from proxy.core.records import Hit, Memory
from proxy.core.scope import Scope
from proxy.memory.embed.base import Embedder
from proxy.memory.recall.cache import IndexCache
from proxy.memory.recall.compose import Budgets, Recalled, compose
from proxy.memory.recall.followup import refers_back
from proxy.memory.recall.index import MULTILINGUAL, UserIndex
from proxy.memory.recall.retrieval import SelectionParams, select
from proxy.memory.reconcile import FactLike, WriteResult, event, memory_id, reconcile
from proxy.memory.spaces import Spaces
from proxy.memory.storage.history import History
from proxy.memory.storage.protocol import Store
from proxy.memory.unit import Units

__all__ = ["MemoryService", "RecallPlan", "WriteResult", "memory_id"]

T = TypeVar("T")


@dataclass(frozen=True)
class RecallPlan:
    """How one request's block is filled (from the retrieval settings)."""

    budgets: Budgets
    recent_items: int = 3
    recent_window: timedelta = timedelta(hours=72)
    session_items: int = 8


class MemoryService:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        history: History,
        selection: SelectionParams,
        candidates: int = 50,
        dedup_similarity: float = 0.92,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_s: float | None = None,
        cache_memories: int = 500_000,
        retrieval_threads: int = 4,
        multilingual: Embedder | None = None,
        multilingual_selection: SelectionParams | None = None,
        dedup_similarity_multilingual: float = 0.95,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.history = history
        self.selection = selection
        self.candidates = candidates
        self.clock = clock
        # refresh_s: the store is shared with other replicas, whose writes a cached index lacks.
        self._cache = IndexCache(self._load_user, cache_memories, max_age_s=refresh_s)
        store.on_reconnect = self._cache.clear  # a restored store may be an older copy
        self.cache_memories = cache_memories
        self._units = Units(store, history, self._cache)
        self._closing = False
        self._retrieval = ThreadPoolExecutor(retrieval_threads, thread_name_prefix="retrieval")
        self.spaces = Spaces(
            embedder,
            selection,
            dedup_similarity,
            multilingual,
            multilingual_selection,
            dedup_similarity_multilingual,
        )

    @property
    def multilingual(self) -> Embedder | None:
        return self.spaces.multilingual

    # --- reads -----------------------------------------------------------------------------

    async def search(self, scope: Scope, query: str, top_k: int | None = None) -> list[Hit]:
        return await self._off_loop(self.search_blocking, scope, query, top_k)

    async def recall(
        self, scope: Scope, query: str, plan: RecallPlan, carried: frozenset[str] = frozenset()
    ) -> Recalled:
        return await self._off_loop(self.recall_blocking, scope, query, plan, carried)

    async def _off_loop(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._retrieval, call, *args)

    def search_blocking(
        self,
        scope: Scope,
        query: str,
        top_k: int | None = None,
        params: SelectionParams | None = None,
    ) -> list[Hit]:
        """The memories of `scope` relevant to `query`, ranked (the API's search, forget)."""
        if not query.strip():
            return []
        index = self._cache.get(scope.user_id)
        if len(index) == 0:
            return []  # nothing stored: skip the embedding model entirely
        space = self.spaces.of_query(index, query)
        vector = self.spaces.model(space).embed([query], "query")[0]
        found = index.view(
            scope,
            vector,
            query,
            self.candidates,
            self.clock(),
            space=space,
            standout=space == MULTILINGUAL,
        ).candidates
        params = params or self.spaces.gate(space, query)
        if top_k is not None:
            params = replace(params, top_k=top_k)
        return select(found, params)

    def recall_blocking(
        self, scope: Scope, query: str, plan: RecallPlan, carried: frozenset[str] = frozenset()
    ) -> Recalled:
        """What one request's block holds, tier by tier (proxy/memory/recall/compose.py). One
        model run for the query at most, no store read once the user is loaded. `carried`: the
        memories earlier requests of the conversation carried (are they all still live?)."""
        index = self._cache.get(scope.user_id)
        live = self._all_live(index, carried)
        if len(index) == 0:
            return Recalled(carried_live=live)
        asked = bool(query.strip())
        space = self.spaces.of_query(index, query)
        vector = self.spaces.model(space).embed([query], "query")[0] if asked else None
        now = self.clock()
        view = index.view(
            scope,
            vector,
            query,
            self.candidates,
            now,
            space=space,
            standout=space == MULTILINGUAL,
            recent_since=(now - plan.recent_window).timestamp(),
            # Recent memories only for a message that refers back to something earlier.
            recent_limit=plan.recent_items if refers_back(query) else 0,
            session_limit=plan.session_items,
        )
        hits = select(view.candidates, self.spaces.gate(space, query)) if asked else []
        recalled = compose(
            profile=view.profile,
            session=view.session,
            recent=view.recent,
            hits=hits,
            budgets=plan.budgets,
            cost=line_cost,
        )
        return replace(recalled, carried_live=live)

    async def all_live(self, scope: Scope, ids: frozenset[str]) -> bool:
        return await self._off_loop(self.all_live_blocking, scope, ids)

    def all_live_blocking(self, scope: Scope, ids: frozenset[str]) -> bool:
        """Whether every one of these memories of the user is still live (a block carried
        from earlier in a conversation must not bring back what was deleted or expired)."""
        return not ids or self._all_live(self._cache.get(scope.user_id), ids)

    def _all_live(self, index: UserIndex, ids: frozenset[str]) -> bool:
        now = self.clock()
        return all((m := index.get(i)) is not None and m.live(now) for i in ids)

    def profile_blocking(self, scope: Scope) -> list[Memory]:
        """The live profile of a user (narrowed by agent where given), oldest first."""
        user_wide = Scope(scope.user_id, None, scope.agent_id)
        return [m for m in self.list_blocking(user_wide) if m.tier == "profile"]

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
        metadata: dict[str, str] | None = None,
    ) -> WriteResult:
        """Store facts by the write policy (proxy/memory/reconcile.py). `metadata` (from the
        API) is part of the same write: stored with the memory, without an event of its own."""
        result = WriteResult()
        if not facts:
            return result
        now = self.clock()
        texts = [fact.text for fact in facts]
        vectors = self.embedder.embed(texts, "passage")
        index = self._cache.get(scope.user_id)
        multilingual = self.spaces.new_vectors(index, texts)
        with self._units.open() as unit:
            if multilingual is not None:
                self.spaces.backfill(index, unit)
            for position, (fact, vector) in enumerate(zip(facts, vectors, strict=True)):
                other = None if multilingual is None else multilingual[position]
                nearest, same_at = self.spaces.nearest(index, scope, fact.text, vector, other, now)
                change = reconcile(
                    fact,
                    scope=scope,
                    new_id=memory_id(source, position),
                    nearest=nearest,
                    same_attribute=(
                        index.with_attribute(scope, fact.attribute, now) if fact.attribute else []
                    ),
                    dedup_similarity=same_at,
                    now=now,
                    occurred_at=occurred_at,
                    source=source,
                    extractor=extractor,
                    expires_at=expires_at,
                    metadata=metadata,
                )
                for old in change.superseded:
                    old_vector = index.vector(old.id)
                    if old_vector is not None:
                        index.upsert([old], old_vector[None, :])
                        unit.upsert([old], old_vector[None, :])
                # The index learns each memory at once so later facts of this turn see it.
                self.spaces.stage(index, unit, [change.memory], vector[None, :], other)
                unit.record(change.events)
                (result.added if change.added else result.updated).append(change.memory)
                result.superseded += change.superseded
        return result

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
        changed = text not in (None, memory.text)
        vector = None if changed else index.vector(memory.id)
        if vector is None:
            vector = self.embedder.embed([updated.text], "passage")[0]
        other = self.spaces.after_edit(index, memory.id, updated.text) if changed else None
        with self._units.open() as unit:
            self.spaces.stage(index, unit, [updated], vector[None, :], other)
            lost = set(memory.metadata) - set(updated.metadata)
            if lost:
                unit.upsert([updated], vector[None, :], dropped={updated.id: lost})
            unit.record(
                [event(updated, "UPDATE", memory.text, now, source=source, extractor="api")]
            )
        return updated

    def delete_blocking(self, memories: Sequence[Memory], source: str = "api") -> list[str]:
        if not memories:
            return []
        now = self.clock()
        with self._units.open() as unit:
            for user_id in {m.scope.user_id for m in memories}:
                mine = [m.id for m in memories if m.scope.user_id == user_id]
                unit.delete(user_id, mine)
                self._cache.get(user_id).remove(mine)
            unit.record([event(m, "DELETE", m.text, now, source=source) for m in memories])
        return [m.id for m in memories]

    def erase_blocking(self, scope: Scope, compact: bool = False) -> int:
        """Delete every memory of a user (or of one session/agent) and their history; with
        `compact`, also out of the embedded store's files (their text leaves the disk)."""
        index = self._cache.get(scope.user_id)
        memories = index.all(scope)
        with self._units.open() as unit:
            unit.delete(scope.user_id, [m.id for m in memories])
            index.remove([m.id for m in memories])
        if compact:  # memories deleted one by one before are in the store's files too
            ids = {m.id for m in memories} | set(self.history.memory_ids(scope.user_id))
            if ids:
                self.store.compact(sorted(ids))
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
        others = self.spaces.imported(memories)
        with self._units.open() as unit:
            for i, memory in enumerate(memories):
                index = self._cache.peek(memory.scope.user_id)
                other = others.get(memory.id)
                if index is not None:  # a loaded user learns it at once
                    self.spaces.stage(index, unit, [memory], vectors[i : i + 1], other)
                else:
                    unit.upsert(
                        [memory],
                        vectors[i : i + 1],
                        {memory.id: other} if other is not None else None,
                    )
        return len(memories)

    def purge_expired_blocking(self) -> int:
        expired = self.store.expired_ids(self.clock())
        if not expired:
            return 0
        by_user: dict[str, list[str]] = {}
        for expired_id, user_id in expired:
            by_user.setdefault(user_id, []).append(expired_id)
        with self._units.open() as unit:
            for user_id, ids in by_user.items():
                unit.delete(user_id, ids)
                index = self._cache.peek(user_id)
                if index is not None:
                    index.remove(ids)
        return len(expired)

    def learn_language_blocking(self, scope: Scope, text: str) -> int:
        """A user wrote in a language the primary model cannot place (a question too, which
        stores nothing): give their memories multilingual vectors now, so that their next
        question finds them across languages. Returns how many got one."""
        if self.multilingual is None or not needs_multilingual(text):
            return 0
        index = self._cache.get(scope.user_id)
        with self._units.open() as unit:
            return self.spaces.backfill(index, unit)

    @contextmanager
    def batched_writes(self) -> Iterator[None]:
        """Within this block (in this thread), every write joins one unit of work, stored at
        its end (the writer groups the turns it processes within 50 ms)."""
        with self._units.open():
            yield

    # --- plumbing --------------------------------------------------------------------------

    def _load_user(self, user_id: str) -> UserIndex:
        memories, vectors, others = self.store.load_user_spaces(user_id)
        index = UserIndex(user_id, self.embedder.dim)
        if memories:
            index.upsert(memories, vectors)
        self.spaces.load(index, memories, others)
        return index

    def cache_stats(self) -> dict[str, int]:
        """Users and memories held in process for search."""
        return self._cache.stats()

    def close(self) -> None:
        self._closing = True  # ends a preload still running
        self._cache.close()
        self._retrieval.shutdown(wait=False, cancel_futures=True)

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
