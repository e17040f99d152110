"""The memory operations the proxy needs, over the durable store and the in-process index.

Methods ending in `_blocking` run model inference and storage I/O: the async callers hand them to
a thread (retrieval to an executor of its own, so that a slow or timed-out search never holds the
threads the writer and the management API use). Every write goes through a unit of work
(proxy/memory/unit.py) and the write policy of proxy/memory/reconcile.py; every change is
recorded in history.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from proxy.core.inject import line_cost
from proxy.core.language import needs_multilingual
from proxy.core.personal import about_the_user
from proxy.core.records import Hit, Memory
from proxy.core.scope import Scope
from proxy.memory.embed.base import Embedder
from proxy.memory.recall.cache import IndexCache
from proxy.memory.recall.compose import Budgets, Recalled, compose
from proxy.memory.recall.followup import refers_back
from proxy.memory.recall.index import MULTILINGUAL, PRIMARY, UserIndex
from proxy.memory.recall.retrieval import WORLD_STANDOUT, SelectionParams, select
from proxy.memory.reconcile import FactLike, WriteResult, event, memory_id, reconcile
from proxy.memory.storage.history import History
from proxy.memory.storage.protocol import Store
from proxy.memory.unit import UnitOfWork

__all__ = ["MemoryService", "RecallPlan", "WriteResult", "memory_id"]

T = TypeVar("T")


@dataclass(frozen=True)
class RecallPlan:
    """How one request's block is filled (from the retrieval settings)."""

    budgets: Budgets
    recent_items: int = 3
    recent_window: timedelta = timedelta(hours=72)
    session_items: int = 8


class _Local(threading.local):
    unit: UnitOfWork | None = None


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
        self.dedup_similarity = dedup_similarity
        self.clock = clock
        # refresh_s: the store is shared with other replicas, whose writes a cached index lacks.
        self._cache = IndexCache(self._load_user, cache_memories, max_age_s=refresh_s)
        store.on_reconnect = self._cache.clear  # a restored store may be an older copy
        self.cache_memories = cache_memories
        self._local = _Local()
        self._closing = False
        self._retrieval = ThreadPoolExecutor(retrieval_threads, thread_name_prefix="retrieval")
        # The multilingual model, for users and questions the primary (English) model cannot
        # place: a user with any memory that needs it is searched in its space only, so vectors
        # of two models are never compared; their other memories get its vectors too.
        self.multilingual = multilingual
        self.multilingual_selection = multilingual_selection or selection
        self.dedup_similarity_multilingual = dedup_similarity_multilingual

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
        space = self._space(index, query)
        vector = self._model(space).embed([query], "query")[0]
        found = index.view(
            scope,
            vector,
            query,
            self.candidates,
            self.clock(),
            space=space,
            standout=space == MULTILINGUAL,
        ).candidates
        params = params or self._selection(space, query)
        if top_k is not None:
            params = replace(params, top_k=top_k)
        return select(found, params)

    def _space(self, index: UserIndex, text: str) -> str:
        """The space to search: the multilingual model's for a question that needs it or a
        user who has memories in it; else the primary model's."""
        if self.multilingual is not None and (
            index.has_space(MULTILINGUAL) or needs_multilingual(text)
        ):
            return MULTILINGUAL
        return PRIMARY

    def _model(self, space: str) -> Embedder:
        return self.multilingual if space == MULTILINGUAL and self.multilingual else self.embedder

    def _selection(self, space: str, query: str) -> SelectionParams:
        if space != MULTILINGUAL:
            return self.selection
        if about_the_user(query):
            return self.multilingual_selection
        return replace(self.multilingual_selection, min_standout=WORLD_STANDOUT)

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
        space = self._space(index, query)
        vector = self._model(space).embed([query], "query")[0] if asked else None
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
        hits = select(view.candidates, self._selection(space, query)) if asked else []
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
        multilingual = self._multilingual_vectors(index, texts)
        with self._unit() as unit:
            if multilingual is not None:
                self._backfill(index, unit)
            for position, (fact, vector) in enumerate(zip(facts, vectors, strict=True)):
                other = None if multilingual is None else multilingual[position]
                # The English model sees any two Chinese texts as near-duplicates: such facts
                # are compared in the multilingual space, at its own threshold.
                in_other = other is not None and needs_multilingual(fact.text)
                change = reconcile(
                    fact,
                    scope=scope,
                    new_id=memory_id(source, position),
                    nearest=(
                        index.nearest(scope, other, now, MULTILINGUAL)  # type: ignore[arg-type]
                        if in_other
                        else index.nearest(scope, vector, now)
                    ),
                    same_attribute=(
                        index.with_attribute(scope, fact.attribute, now) if fact.attribute else []
                    ),
                    dedup_similarity=(
                        self.dedup_similarity_multilingual if in_other else self.dedup_similarity
                    ),
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
                self._stage(index, unit, [change.memory], vector[None, :], other)
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
        other = None
        if (
            changed
            and self.multilingual is not None
            and (
                index.vector(memory.id, MULTILINGUAL) is not None
                or needs_multilingual(updated.text)
            )
        ):
            other = self.multilingual.embed([updated.text], "passage")[0]
        with self._unit() as unit:
            self._stage(index, unit, [updated], vector[None, :], other)
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
        with self._unit() as unit:
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
        with self._unit() as unit:
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
        foreign = [i for i, m in enumerate(memories) if needs_multilingual(m.text)]
        others: dict[str, np.ndarray | None] = {}
        if self.multilingual is not None and foreign:
            found = self.multilingual.embed([memories[i].text for i in foreign], "passage")
            others = {memories[i].id: found[k] for k, i in enumerate(foreign)}
        with self._unit() as unit:
            unit.upsert(memories, vectors, others)
            for i, memory in enumerate(memories):
                index = self._cache.peek(memory.scope.user_id)
                if index is not None:
                    other = others.get(memory.id)
                    rows = {PRIMARY: vectors[i : i + 1]}
                    if other is not None:
                        rows[MULTILINGUAL] = other[None, :]
                    index.upsert([memory], rows)
        return len(memories)

    def purge_expired_blocking(self) -> int:
        expired = self.store.expired_ids(self.clock())
        if not expired:
            return 0
        by_user: dict[str, list[str]] = {}
        for expired_id, user_id in expired:
            by_user.setdefault(user_id, []).append(expired_id)
        with self._unit() as unit:
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
        with self._unit() as unit:
            return self._backfill(index, unit)

    def _multilingual_vectors(self, index: UserIndex, texts: Sequence[str]) -> np.ndarray | None:
        """Multilingual vectors for new texts, when the user has or needs that space."""
        if self.multilingual is None:
            return None
        if index.has_space(MULTILINGUAL) or any(needs_multilingual(t) for t in texts):
            return self.multilingual.embed(texts, "passage")
        return None

    def _backfill(self, index: UserIndex, unit: UnitOfWork, limit: int = 256) -> int:
        """Multilingual vectors for a user's memories that lack one (at most `limit` per call:
        the rest with the user's next writes)."""
        if self.multilingual is None:
            return 0
        missing = index.missing(MULTILINGUAL)[:limit]
        if not missing:
            return 0
        others = self.multilingual.embed([m.text for m in missing], "passage")
        primary = np.stack([index.vector(m.id) for m in missing])  # type: ignore[misc]
        index.upsert(missing, {MULTILINGUAL: others})
        unit.upsert(missing, primary, {m.id: v for m, v in zip(missing, others, strict=True)})
        return len(missing)

    def _stage(
        self,
        index: UserIndex,
        unit: UnitOfWork,
        memories: list[Memory],
        vectors: np.ndarray,
        other: np.ndarray | None,
    ) -> None:
        """A change in the index at once, and in the unit to store (with its multilingual
        vector when it has one)."""
        rows: dict[str, np.ndarray] = {PRIMARY: vectors}
        if other is not None:
            rows[MULTILINGUAL] = other[None, :]
        index.upsert(memories, rows)
        unit.upsert(memories, vectors, None if other is None else {m.id: other for m in memories})

    # --- units of work ---------------------------------------------------------------------

    @contextmanager
    def _unit(self) -> Iterator[UnitOfWork]:
        """The unit this thread's writes join: the enclosing batch's, or one of their own that
        is stored when the block ends. The in-process index is updated at once (searches see a
        change before it reaches the store); if storing fails, the users touched are reloaded
        from the store on their next request."""
        current = self._local.unit
        if current is not None:
            yield current
            return
        unit = UnitOfWork(on_first_touch=self._cache.hold)
        self._local.unit = unit
        try:
            yield unit
            for user_id, ids in unit.deletes_by_user().items():
                self.store.delete(user_id, ids)
            rows = unit.upserts()
            self.store.upsert(rows.memories, rows.vectors, rows.multilingual, rows.dropped)
            self.history.record(unit.events)
        except BaseException:
            for user_id in unit.users:
                self._cache.drop(user_id)  # the index ran ahead of the store
            raise
        finally:
            self._local.unit = None
            for user_id in unit.users:
                self._cache.release(user_id)
        for user_id in unit.users:
            index = self._cache.peek(user_id)
            if index is not None:
                index.mark_changed()

    @contextmanager
    def batched_writes(self) -> Iterator[None]:
        """Within this block (in this thread), every write joins one unit of work, stored at
        its end (the writer groups the turns it processes within 50 ms)."""
        with self._unit():
            yield

    # --- plumbing --------------------------------------------------------------------------

    def _load_user(self, user_id: str) -> UserIndex:
        memories, vectors, others = self.store.load_user_spaces(user_id)
        index = UserIndex(user_id, self.embedder.dim)
        if memories:
            index.upsert(memories, vectors)
        if others and self.multilingual is not None:
            having = [m for m in memories if m.id in others]
            index.upsert(having, {MULTILINGUAL: np.stack([others[m.id] for m in having])})
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
