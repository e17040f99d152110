"""From candidates to the few memories worth injecting: fusion, relevance, newest wins (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from proxy.core.records import Hit
from proxy.memory.recall.index import Candidates

__all__ = ["WORLD_STANDOUT", "SelectionParams", "multilingual_selection", "rrf", "select"]


@dataclass(frozen=True)
class SelectionParams:
    top_k: int = 20
    min_similarity: float = 0.3  # cosine; below it a memory needs keyword evidence to count
    min_keyword_coverage: float = 0.3  # share of the query's keyword (idf) weight matched
    rrf_k: int = 10  # small k favours the top of each list (measured better than 60 here)
    duplicate_similarity: float = 0.9  # at or above, two memories say the same; the newer wins
    # For a model whose similarities sit in a narrow band (multilingual-e5: ~0.78 to 0.93): a
    # memory must also stand out from the user's other memories in its language, by this many
    # standard deviations, and be among the `dense_limit` that stand out most. None: the
    # absolute threshold alone.
    min_standout: float | None = None
    dense_limit: int = 50
    # Below this many memories a spread means little: the absolute `small_store_similarity`
    # decides instead.
    standout_from: int = 8
    small_store_similarity: float = 0.82


# For a question about the world ("光速是多少？"), which a memory can hardly answer, a memory
# must stand out this far in the multilingual space (calibrated on bench/multilingual.py: no
# unrelated question of the probe set got an event).
WORLD_STANDOUT = 3.0


def multilingual_selection(top_k: int) -> SelectionParams:
    """The gate for multilingual-e5-small, whose similarities sit in a narrow band (calibrated on
    bench/multilingual.py): a memory must stand out from the user's others in its language by
    1.5 standard deviations and be among the five that stand out most."""
    return SelectionParams(
        top_k=top_k,
        min_similarity=0.7,
        min_standout=1.5,
        dense_limit=5,
        min_keyword_coverage=0.5,
        # distinct Chinese memories sit up to 0.93 apart in its space (0.9 merged 58 pairs of
        # the probe set's 32 events); what is closer was merged at write (0.95)
        duplicate_similarity=0.96,
    )


def rrf(rankings: list[Mapping[int, int]], k: int) -> dict[int, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank + 1) over the lists an item appears in."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for item, rank in ranking.items():
            scores[item] += 1.0 / (k + rank + 1)
    return dict(scores)


def select(candidates: Candidates, params: SelectionParams) -> list[Hit]:
    fused = rrf([candidates.dense_rank, candidates.lexical_rank], params.rrf_k)
    standouts = candidates.standouts if params.min_standout is not None else None
    floor = params.min_similarity
    if standouts is not None and candidates.searched < params.standout_from:
        standouts, floor = None, max(floor, params.small_store_similarity)

    def dense_ok(pos: int) -> bool:
        if candidates.similarities[pos] < floor:
            return False
        if standouts is None:
            return True
        rank = candidates.dense_rank.get(pos)
        return (
            standouts[pos] >= params.min_standout and rank is not None and rank < params.dense_limit
        )

    relevant = [
        pos
        for pos in fused
        if dense_ok(pos) or candidates.lexical_coverage.get(pos, 0.0) >= params.min_keyword_coverage
    ]
    relevant.sort(key=lambda pos: fused[pos], reverse=True)
    # Pairwise similarities of the relevant candidates, once (at most ~100 x 100).
    vectors = candidates.vectors[relevant] if relevant else candidates.vectors[:0]
    pairwise = vectors @ vectors.T
    column = {pos: i for i, pos in enumerate(relevant)}
    chosen: list[int] = []
    for pos in relevant:
        duplicate = _duplicate_of(
            pairwise[column[pos]], [column[c] for c in chosen], params.duplicate_similarity
        )
        if duplicate is None:
            chosen.append(pos)
        elif _newer(candidates, pos, chosen[duplicate]):
            chosen[duplicate] = pos  # same fact said again later: the later wording holds
        if len(chosen) >= params.top_k:
            break
    return [
        Hit(
            memory=candidates.memories[pos],
            score=fused[pos],
            similarity=float(candidates.similarities[pos]),
        )
        for pos in chosen
    ]


def _duplicate_of(similarities: np.ndarray, chosen: list[int], threshold: float) -> int | None:
    """Index in `chosen` of the most similar chosen candidate, if similar enough."""
    if not chosen:
        return None
    sims = similarities[chosen]
    best = int(np.argmax(sims))
    return best if sims[best] >= threshold else None


def _newer(candidates: Candidates, a: int, b: int) -> bool:
    return candidates.memories[a].occurred_at > candidates.memories[b].occurred_at
