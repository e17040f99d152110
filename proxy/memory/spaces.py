"""The embedding spaces of the memory service: the primary (English) model's, for every memory,
and the multilingual model's, for the users and questions that need it.

A user with any memory in the multilingual space is searched in that space only, so vectors of
two models are never compared; their other memories get its vectors too, a few hundred per
write. Each space has its own relevance gate and duplicate threshold: the multilingual model's
similarities sit in a narrow band (proxy/memory/recall/retrieval.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from proxy.core.language import needs_multilingual
from proxy.core.personal import about_the_user
from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.memory.embed.base import Embedder
from proxy.memory.recall.index import MULTILINGUAL, PRIMARY, UserIndex
from proxy.memory.recall.retrieval import WORLD_STANDOUT, SelectionParams
from proxy.memory.unit import UnitOfWork

__all__ = ["Spaces"]

BACKFILL_ROWS = 256  # multilingual vectors computed for older memories per write


class Spaces:
    def __init__(
        self,
        primary: Embedder,
        selection: SelectionParams,
        dedup_similarity: float,
        multilingual: Embedder | None = None,
        multilingual_selection: SelectionParams | None = None,
        dedup_similarity_multilingual: float = 0.95,
    ) -> None:
        self.primary = primary
        self.selection = selection
        self.dedup_similarity = dedup_similarity
        self.multilingual = multilingual
        self.multilingual_selection = multilingual_selection or selection
        self.dedup_similarity_multilingual = dedup_similarity_multilingual

    # --- reads -----------------------------------------------------------------------------

    def of_query(self, index: UserIndex, text: str) -> str:
        """The space to search: the multilingual model's for a question that needs it or a
        user who has memories in it; else the primary model's."""
        if self.multilingual is not None and (
            index.has_space(MULTILINGUAL) or needs_multilingual(text)
        ):
            return MULTILINGUAL
        return PRIMARY

    def model(self, space: str) -> Embedder:
        return self.multilingual if space == MULTILINGUAL and self.multilingual else self.primary

    def gate(self, space: str, query: str) -> SelectionParams:
        """The relevance gate of the space (stricter, in the multilingual space, for a question
        about the world than for one about the user's life)."""
        if space != MULTILINGUAL:
            return self.selection
        if about_the_user(query):
            return self.multilingual_selection
        return replace(self.multilingual_selection, min_standout=WORLD_STANDOUT)

    # --- writes ----------------------------------------------------------------------------

    def new_vectors(self, index: UserIndex, texts: Sequence[str]) -> np.ndarray | None:
        """Multilingual vectors for new texts, when the user has or needs that space."""
        if self.multilingual is None:
            return None
        if index.has_space(MULTILINGUAL) or any(needs_multilingual(t) for t in texts):
            return self.multilingual.embed(texts, "passage")
        return None

    def after_edit(self, index: UserIndex, memory_id: str, text: str) -> np.ndarray | None:
        """The multilingual vector of a memory whose text changed, if it had or needs one."""
        if self.multilingual is None:
            return None
        if index.vector(memory_id, MULTILINGUAL) is None and not needs_multilingual(text):
            return None
        vector: np.ndarray = self.multilingual.embed([text], "passage")[0]
        return vector

    def imported(self, memories: Sequence[Memory]) -> dict[str, np.ndarray]:
        """Multilingual vectors of imported memories whose text needs one (the others get theirs
        with the user's next writes)."""
        foreign = [m for m in memories if needs_multilingual(m.text)]
        if self.multilingual is None or not foreign:
            return {}
        found = self.multilingual.embed([m.text for m in foreign], "passage")
        return {m.id: found[i] for i, m in enumerate(foreign)}

    def nearest(
        self,
        index: UserIndex,
        scope: Scope,
        text: str,
        vector: np.ndarray,
        other: np.ndarray | None,
        now: datetime,
    ) -> tuple[tuple[Memory, float] | None, float]:
        """The closest live memory of the scope, and the similarity at which it is the same
        statement. The English model sees any two Chinese texts as near-duplicates: such texts
        are compared in the multilingual space, at its own threshold."""
        if other is not None and needs_multilingual(text):
            found = index.nearest(scope, other, now, MULTILINGUAL)
            return found, self.dedup_similarity_multilingual
        return index.nearest(scope, vector, now), self.dedup_similarity

    def backfill(self, index: UserIndex, unit: UnitOfWork, limit: int = BACKFILL_ROWS) -> int:
        """Multilingual vectors for a user's memories that lack one (at most `limit` per call:
        the rest with the user's next writes). Returns how many got one."""
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

    def stage(
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

    def load(
        self, index: UserIndex, memories: Sequence[Memory], others: dict[str, np.ndarray]
    ) -> None:
        """A loaded user's multilingual vectors into their index."""
        if others and self.multilingual is not None:
            having = [m for m in memories if m.id in others]
            index.upsert(having, {MULTILINGUAL: np.stack([others[m.id] for m in having])})
