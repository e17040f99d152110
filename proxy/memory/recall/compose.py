"""Which memories fill the block, tier by tier, within the token budget (pure).

1. profile: the user's standing profile goes first, within its own share of the budget. When all
   of it fits, all of it is injected, whatever the question; when it outgrows its share, the
   items the retrieval found relevant come first, then the rest by similarity to the question
   and recency. A profile is never dropped because the question looks unrelated. A profile far
   larger than its share (dozens of likes, as a long chat builds up) is no longer standing as
   a whole: its core (who the user is, how to answer them, what they can't do or eat) stays in
   the profile's block, and the rest competes with the episodes in the relevant tier (on
   LoCoMo, filling the share by similarity took a quarter of the recall).
2. session: with a session id, that session's newest memories (its state), by recency.
3. recent: the user's newest episodic memories of the last hours, so that a follow-up ("any
   news on my case?") arrives with its context. Small and bounded.
4. relevant: hybrid retrieval (already gated and ranked) for the rest of the budget.
No memory appears twice. Lines are costed with the renderer's own estimate, and a block's frame
(its header and footer) only when the block gets a line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from proxy.core.records import Hit, Memory
from proxy.memory.extract.tiers import is_core

__all__ = ["Budgets", "Recalled", "compose"]

LineCost = Callable[[Memory, bool], int]  # (memory, is_profile) -> tokens of its line

# A profile whose lines cost more than this many times its share is chosen by relevance, not
# filled by similarity (PrefEval's 20 preferences: 1.1x; a LoCoMo speaker: 7x to 13x).
STANDING_OVERFLOW = 2.0


@dataclass(frozen=True)
class Budgets:
    total: int  # tokens for every line of every tier
    profile: int  # most of `total` the profile may take
    session: int
    recent: int
    # Tokens of the frame a block needs once it holds a line: the profile's, the dated lines'
    # alone, and the dated lines' beside a profile (one shared frame with the system placement).
    profile_frame: int = 0
    dated_frame: int = 0
    dated_frame_after_profile: int = 0


@dataclass(frozen=True)
class Recalled:
    profile: list[Memory] = field(default_factory=list)  # in a stable order (oldest first)
    session: list[Memory] = field(default_factory=list)
    recent: list[Memory] = field(default_factory=list)
    relevant: list[Memory] = field(default_factory=list)
    carried_live: bool = True  # every memory the conversation carried so far is still live

    @property
    def count(self) -> int:
        return len(self.profile) + len(self.session) + len(self.recent) + len(self.relevant)

    def ids(self) -> dict[str, list[str]]:
        """Memory ids by tier (tiers with none left out)."""
        tiers = {
            "profile": self.profile,
            "session": self.session,
            "recent": self.recent,
            "relevant": self.relevant,
        }
        return {tier: [m.id for m in memories] for tier, memories in tiers.items() if memories}

    @property
    def episodic(self) -> list[Memory]:
        """What is not profile, in the order it is shown."""
        return [*self.session, *self.recent, *self.relevant]


def compose(
    *,
    profile: Sequence[tuple[Memory, float]],
    session: Sequence[Memory],
    recent: Sequence[Memory],
    hits: Sequence[Hit],
    budgets: Budgets,
    cost: LineCost,
) -> Recalled:
    left = budgets.total
    chosen: set[str] = set()
    relevant_ids = {hit.memory.id: rank for rank, hit in enumerate(hits)}

    room = min(budgets.profile, left - budgets.profile_frame)  # the share is for lines
    picked_profile, used = _profile(profile, relevant_ids, room, cost)
    if picked_profile:
        left -= used + budgets.profile_frame
    chosen.update(m.id for m in picked_profile)
    # What opening the dated block costs, paid with its first line.
    opening = budgets.dated_frame_after_profile if picked_profile else budgets.dated_frame

    def fill(memories: Sequence[Memory], room: int) -> list[Memory]:
        nonlocal left, opening
        out: list[Memory] = []
        room = min(room, left)
        for memory in memories:
            if memory.id in chosen:
                continue
            line = cost(memory, False)
            if line > room or line + opening > left:
                continue  # a shorter one further down may still fit
            out.append(memory)
            chosen.add(memory.id)
            room -= line
            left -= line + opening
            opening = 0
        return out

    picked_session = fill(session, budgets.session)
    picked_recent = fill(recent, budgets.recent)
    picked_relevant = fill([hit.memory for hit in hits], left)
    return Recalled(picked_profile, picked_session, picked_recent, picked_relevant)


def _profile(
    items: Sequence[tuple[Memory, float]],
    relevant: dict[str, int],
    room: int,
    cost: LineCost,
) -> tuple[list[Memory], int]:
    """The profile items that fit `room`, in a stable order (so that the block is the same
    from one request to the next while the profile does not change)."""
    if room <= 0:
        return [], 0
    costs = {memory.id: cost(memory, True) for memory, _ in items}
    total = sum(costs.values())
    if total <= room:
        picked = [memory for memory, _ in items]
    else:
        if total > STANDING_OVERFLOW * room:
            items = [item for item in items if is_core(item[0].text, item[0].attribute)]
        # Relevant first (in retrieval order), then by similarity, newer first on ties.
        ranked = sorted(
            items,
            key=lambda item: (
                relevant.get(item[0].id, len(relevant)),
                -item[1],
                -item[0].occurred_at.timestamp(),
            ),
        )
        picked, used = [], 0
        for memory, _ in ranked:
            if used + costs[memory.id] <= room:
                picked.append(memory)
                used += costs[memory.id]
    picked.sort(key=lambda m: (m.created_at, m.id))
    return picked, sum(costs[m.id] for m in picked)
