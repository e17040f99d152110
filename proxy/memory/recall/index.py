"""One user's memories held in process: vectors for exact cosine search, a BM25 index, and the
per-row facts the tiers select by (tier, time, session, agent) as numpy arrays.

A user has hundreds to thousands of memories; an exact matrix product over them takes well under
a millisecond, while a filtered query over a shared chromadb collection grows with the whole
collection (137 ms at 200k items). So chromadb is the durable store and this is the hot path.

Vectors live in "spaces", one per embedding model: the primary model's for every memory, and a
second (multilingual) model's where it was computed. A search compares a query only with vectors
of the same space.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from proxy.core.language import needs_multilingual
from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.memory.recall.lexical import Bm25Index, tokenize

__all__ = ["MULTILINGUAL", "PRIMARY", "Candidates", "RecallView", "UserIndex", "in_scope"]

PRIMARY = "primary"  # the space every memory has a vector in
MULTILINGUAL = "multilingual"  # the multilingual model's, for users who need it


@dataclass(frozen=True)
class Candidates:
    memories: list[Memory]
    vectors: np.ndarray  # rows aligned with memories (in the space searched)
    similarities: np.ndarray  # cosine similarity to the query, aligned with memories
    dense_rank: dict[int, int]  # position in `memories` -> rank among dense results (0 = best)
    lexical_rank: dict[int, int]
    lexical_coverage: dict[int, float]  # share of the query's keyword weight the memory matched
    # How far each candidate's similarity stands out from those of the user's other memories
    # in its language (standard deviations; None: not computed). A model whose similarities
    # sit in a narrow band, and favour text in the question's language, needs this.
    standouts: np.ndarray | None = None
    searched: int = 0  # memories the dense search compared the query with


@dataclass(frozen=True)
class RecallView:
    """What one request's tiers choose from, read under one lock."""

    candidates: Candidates  # hybrid retrieval in the request's scope
    profile: list[tuple[Memory, float]]  # every live profile memory, with its similarity
    recent: list[Memory]  # newest live episodic memories since the cut-off, newest first
    session: list[Memory]  # newest live memories of the request's session, newest first


def in_scope(memory: Memory, scope: Scope) -> bool:
    """A read sees the user's memories, narrowed to the session and agent where they are given."""
    return (
        memory.scope.user_id == scope.user_id
        and (scope.session_id is None or memory.scope.session_id == scope.session_id)
        and (scope.agent_id is None or memory.scope.agent_id == scope.agent_id)
    )


class _Codes:
    """Small ints for session and agent ids, so scope masks are array comparisons."""

    def __init__(self) -> None:
        self._codes: dict[str | None, int] = {None: -1}

    def of(self, value: str | None) -> int:
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._codes) - 1
        return code

    def get(self, value: str | None) -> int | None:
        return self._codes.get(value)


class UserIndex:
    """Rows are never reordered; deleted rows become tombstones, so row numbers stay stable.
    Superseded memories stay (for listing with history) but are not searchable."""

    def __init__(self, user_id: str, dim: int) -> None:
        self.user_id = user_id
        self.lock = threading.Lock()
        self._dim = dim
        self._memories: list[Memory | None] = []
        self._spaces: dict[str, np.ndarray] = {PRIMARY: np.zeros((0, dim), dtype=np.float32)}
        self._has: dict[str, np.ndarray] = {PRIMARY: np.zeros(0, dtype=bool)}
        self._space_rows: dict[str, int] = {}  # rows with a vector, per space
        self._active = np.zeros(0, dtype=bool)  # present and not superseded
        self._profile = np.zeros(0, dtype=bool)
        self._foreign = np.zeros(0, dtype=bool)  # text the primary (English) model cannot place
        self._expires = np.full(0, math.inf)  # epoch seconds; inf = never
        self._occurred = np.zeros(0)  # epoch seconds
        self._session = np.full(0, -1, dtype=np.int32)
        self._agent = np.full(0, -1, dtype=np.int32)
        self._sessions = _Codes()
        self._agents = _Codes()
        self._rows: dict[str, int] = {}
        self._attributes: dict[int, str] = {}  # row -> single-valued attribute it sets
        self._bm25 = Bm25Index()
        self.version = 0  # bumped by every change: a background reload checks it

    def __len__(self) -> int:
        return len(self._rows)

    def has_space(self, space: str) -> bool:
        """Whether some memory has a vector in `space`."""
        return self._space_rows.get(space, 0) > 0

    def mark_changed(self) -> None:
        """A change of this user reached the store: a reload that began before it is stale."""
        with self.lock:
            self.version += 1

    def upsert(
        self, memories: Sequence[Memory], vectors: np.ndarray | Mapping[str, np.ndarray]
    ) -> None:
        """Add or replace memories; `vectors` holds the primary space's rows, or rows per space
        (a space left out keeps what the row had there)."""
        spaces = {PRIMARY: vectors} if isinstance(vectors, np.ndarray) else dict(vectors)
        with self.lock:
            self.version += 1
            self._reserve(len(self._memories) + len(memories), spaces)
            for i, memory in enumerate(memories):
                if memory.scope.user_id != self.user_id:
                    raise ValueError("memory of another user offered to this user's index")
                row = self._rows.get(memory.id)
                if row is None:
                    row = len(self._memories)
                    self._memories.append(memory)
                    self._rows[memory.id] = row
                else:
                    self._memories[row] = memory
                for name, rows in spaces.items():
                    self._spaces[name][row] = rows[i]
                    if not self._has[name][row]:
                        self._has[name][row] = True
                        self._space_rows[name] = self._space_rows.get(name, 0) + 1
                self._set_row(row, memory)

    def _set_row(self, row: int, memory: Memory) -> None:
        active = memory.status == "active"
        self._active[row] = active
        self._profile[row] = memory.tier == "profile"
        self._foreign[row] = needs_multilingual(memory.text)
        self._expires[row] = memory.expires_at.timestamp() if memory.expires_at else math.inf
        self._occurred[row] = memory.occurred_at.timestamp()
        self._session[row] = self._sessions.of(memory.scope.session_id)
        self._agent[row] = self._agents.of(memory.scope.agent_id)
        if active:
            self._bm25.add(row, tokenize(memory.text))
        else:
            self._bm25.remove(row)
        if memory.attribute is None:
            self._attributes.pop(row, None)
        else:
            self._attributes[row] = memory.attribute

    def _reserve(self, rows: int, spaces: Mapping[str, np.ndarray]) -> None:
        """Room for `rows` rows. A user loaded from the store gets exactly their rows; later
        growth adds a quarter (doubling left up to half of a large user's vectors unused:
        measured 2.6 KB of vectors per 1.5 KB memory vector at 10k memories)."""
        for name in spaces:
            if name not in self._spaces:  # a space seen for the first time: rows as the rest
                size = len(self._active)
                self._spaces[name] = np.zeros((size, self._dim), np.float32)
                self._has[name] = np.zeros(size, dtype=bool)
        capacity = len(self._active)
        if rows <= capacity:
            return
        size = max(rows, capacity + capacity // 4 + 16)
        grow = size - capacity
        for name, old in self._spaces.items():
            vectors = np.zeros((size, self._dim), np.float32)
            vectors[:capacity] = old
            self._spaces[name] = vectors  # a search holding the old array keeps a snapshot
            self._has[name] = np.concatenate([self._has[name], np.zeros(grow, dtype=bool)])
        self._active = np.concatenate([self._active, np.zeros(grow, dtype=bool)])
        self._profile = np.concatenate([self._profile, np.zeros(grow, dtype=bool)])
        self._foreign = np.concatenate([self._foreign, np.zeros(grow, dtype=bool)])
        self._expires = np.concatenate([self._expires, np.full(grow, math.inf)])
        self._occurred = np.concatenate([self._occurred, np.zeros(grow)])
        self._session = np.concatenate([self._session, np.full(grow, -1, dtype=np.int32)])
        self._agent = np.concatenate([self._agent, np.full(grow, -1, dtype=np.int32)])

    def remove(self, ids: Sequence[str]) -> None:
        with self.lock:
            self.version += 1
            for memory_id in ids:
                row = self._rows.pop(memory_id, None)
                if row is not None:
                    self._memories[row] = None
                    for name in self._spaces:
                        self._spaces[name][row] = 0.0
                        if self._has[name][row]:
                            self._has[name][row] = False
                            self._space_rows[name] -= 1
                    self._active[row] = False
                    self._profile[row] = False
                    self._bm25.remove(row)
                    self._attributes.pop(row, None)

    def get(self, memory_id: str) -> Memory | None:
        with self.lock:
            row = self._rows.get(memory_id)
            return None if row is None else self._memories[row]

    def all(self, scope: Scope) -> list[Memory]:
        with self.lock:
            return [m for m in self._memories if m is not None and in_scope(m, scope)]

    def vector(self, memory_id: str, space: str = PRIMARY) -> np.ndarray | None:
        with self.lock:
            row = self._rows.get(memory_id)
            if row is None or space not in self._spaces or not self._has[space][row]:
                return None
            vector: np.ndarray = self._spaces[space][row].copy()
            return vector

    def missing(self, space: str) -> list[Memory]:
        """Live memories with no vector in `space` yet (to compute them off the request path)."""
        with self.lock:
            n = len(self._memories)
            has = self._has.get(space, np.zeros(n, dtype=bool))[:n]
            rows = np.flatnonzero(self._active[:n] & ~has).tolist()
            return [m for m in (self._memories[row] for row in rows) if m is not None]

    def _live_mask(self, scope: Scope, now: datetime, exact: bool) -> np.ndarray:
        """Rows alive now and in scope (`exact`: stored under exactly this scope). Hold the lock."""
        n = len(self._memories)
        mask = self._active[:n] & (self._expires[:n] > now.timestamp())
        for wanted, codes, column in (
            (scope.session_id, self._sessions, self._session),
            (scope.agent_id, self._agents, self._agent),
        ):
            if wanted is None and not exact:
                continue
            code = codes.get(wanted)
            if code is None:
                return np.zeros(n, dtype=bool)
            mask &= column[:n] == code
        return mask

    def nearest(
        self, scope: Scope, vector: np.ndarray, now: datetime, space: str = PRIMARY
    ) -> tuple[Memory, float] | None:
        """The live memory most similar to `vector` under exactly this scope (write dedup)."""
        with self.lock:
            mask = self._live_mask(scope, now, exact=True)
            if space in self._has:
                mask &= self._has[space][: len(mask)]
            if space not in self._spaces or not mask.any():
                return None
            sims = self._spaces[space][: len(mask)] @ vector
            sims[~mask] = -np.inf
            row = int(np.argmax(sims))
            return self._memories[row], float(sims[row])  # type: ignore[return-value]

    def with_attribute(self, scope: Scope, key: str, now: datetime) -> list[Memory]:
        """Live memories of this user and agent that set the same single-valued attribute,
        whatever their session: where the user lives is one fact across their sessions."""
        with self.lock:
            rows = [row for row, k in self._attributes.items() if k == key]
            expiry = now.timestamp()
            return [
                m
                for m in (self._memories[row] for row in rows)
                if m is not None
                and m.scope.agent_id == scope.agent_id
                and m.status == "active"
                and self._expires[self._rows[m.id]] > expiry
            ]

    def view(
        self,
        scope: Scope,
        query_vector: np.ndarray | None,
        query: str,
        limit: int,
        now: datetime,
        *,
        space: str = PRIMARY,
        recent_since: float | None = None,
        recent_limit: int = 0,
        session_limit: int = 0,
        standout: bool = False,
    ) -> RecallView:
        """Everything the tiers of one request choose from. The profile is the user's whole
        profile, narrowed by agent only: it holds across the user's sessions."""
        tokens = tokenize(query)
        with self.lock:
            n = len(self._memories)
            mask = self._live_mask(scope, now, exact=False)
            user_wide = self._live_mask(Scope(scope.user_id, None, scope.agent_id), now, False)
            allowed = None if mask.sum() == len(self._bm25) else mask
            lexical = self._bm25.search(tokens, allowed=allowed, limit=limit) if mask.any() else []
            vectors = self._spaces.get(space, self._spaces[PRIMARY])
            has = self._has.get(space, self._has[PRIMARY])[:n].copy()
            foreign = self._foreign[:n].copy()
            memories_ref = self._memories
            profile_rows = np.flatnonzero(user_wide & self._profile[:n])
            # Recent and session memories respect the request's session narrowing; only the
            # profile holds across sessions.
            episodic = mask & ~self._profile[:n]
            recent_rows = _newest(self._occurred[:n], episodic, recent_limit, recent_since)
            session_rows = (
                _newest(self._occurred[:n], episodic, session_limit, None)
                if scope.session_id is not None
                else []
            )
        # The matrix product runs outside the lock (numpy releases the GIL), so concurrent
        # requests of one user search in parallel instead of queueing.
        sims = (
            vectors[:n] @ query_vector
            if query_vector is not None
            else np.zeros(n, dtype=np.float32)
        )
        dense_mask = mask & has
        dense_rows: list[int] = []
        z: np.ndarray | None = None
        if query_vector is not None and dense_mask.any():
            # Ranked by standout where asked: the multilingual model puts any text in the
            # question's language above the others, the one that answers it included or not.
            z = _standouts(sims, dense_mask, foreign) if standout else None
            score = z if z is not None else sims
            scoped = np.where(dense_mask, score, -np.inf)
            top = min(limit, int(dense_mask.sum()))
            order = np.argpartition(-scoped, top - 1)[:top]
            dense_rows = [int(row) for row in order[np.argsort(-scoped[order])]]
        picked = [
            row
            for row in dict.fromkeys([*dense_rows, *(doc for doc, _, _ in lexical)])
            if memories_ref[row] is not None  # deleted since the snapshot
        ]
        position = {row: i for i, row in enumerate(picked)}
        candidates = Candidates(
            memories=[memories_ref[row] for row in picked],  # type: ignore[misc]
            vectors=vectors[picked],
            similarities=np.where(has[picked], sims[picked], -1.0).astype(np.float32),
            dense_rank={position[row]: rank for rank, row in enumerate(dense_rows)},
            lexical_rank={position[doc]: rank for rank, (doc, _, _) in enumerate(lexical)},
            lexical_coverage={position[doc]: coverage for doc, _, coverage in lexical},
            standouts=None if z is None else np.where(dense_mask[picked], z[picked], -np.inf),
            searched=int(dense_mask.sum()),
        )
        return RecallView(
            candidates=candidates,
            profile=[
                (memories_ref[row], float(sims[row]) if has[row] else -1.0)  # type: ignore[misc]
                for row in profile_rows.tolist()
                if memories_ref[row] is not None
            ],
            recent=_present(memories_ref, recent_rows),
            session=_present(memories_ref, session_rows),
        )


def _standouts(sims: np.ndarray, mask: np.ndarray, foreign: np.ndarray) -> np.ndarray:
    """Each row's similarity above the median of its language group (English or not; a group
    of fewer than 3 rows is centred on everyone's median), in standard deviations of all the
    rows so centred: the median is robust in a small group, the spread is pooled."""
    centred = np.zeros(len(sims))
    everyone = float(np.median(sims[mask]))
    for group in (foreign, ~foreign):
        rows = mask & group
        if rows.any():
            centre = float(np.median(sims[rows])) if rows.sum() >= 3 else everyone
            centred[rows] = sims[rows] - centre
    spread = float(centred[mask].std()) or 1.0
    return np.where(mask, centred / spread, -np.inf)


def _newest(occurred: np.ndarray, mask: np.ndarray, limit: int, since: float | None) -> list[int]:
    """Rows of `mask` with the newest times (at or after `since`), newest first."""
    if limit <= 0:
        return []
    if since is not None:
        mask = mask & (occurred >= since)
    rows = np.flatnonzero(mask)
    if len(rows) > limit:
        rows = rows[np.argpartition(-occurred[rows], limit - 1)[:limit]]
    newest: list[int] = rows[np.argsort(-occurred[rows], kind="stable")].tolist()
    return newest


def _present(memories: list[Memory | None], rows: list[int]) -> list[Memory]:
    return [m for m in (memories[row] for row in rows) if m is not None]
