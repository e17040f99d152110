"""The memory record and what a search returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from proxy.core.scope import Scope

__all__ = ["TIERS", "Event", "Hit", "Memory", "Tier"]

# Where a memory belongs. "profile": what holds until the user changes it (how to answer, who
# they are, what they cannot do or eat, long-running goals): every request of the user considers
# all of it. "episodic": everything else (events, plans, facts), found by recency and relevance.
Tier = Literal["profile", "episodic"]
TIERS: tuple[Tier, ...] = ("profile", "episodic")


@dataclass(frozen=True)
class Memory:
    id: str
    text: str
    scope: Scope
    created_at: datetime  # when the proxy stored it
    occurred_at: datetime  # when the user said it (X-Memory-Time, or the time of the turn)
    kind: str = "fact"
    source: str | None = None  # id of the turn it was extracted from
    updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "active"  # or "superseded": kept for history, never injected
    superseded_by: str | None = None
    expires_at: datetime | None = None  # past it the memory is neither injected nor listed
    tier: Tier = "episodic"
    # The single-valued attribute it sets ("residence", "answer_language", ...), if any: a newer
    # statement of the same attribute supersedes it (newest wins).
    attribute: str | None = None

    def live(self, now: datetime) -> bool:
        return self.status == "active" and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Hit:
    memory: Memory
    score: float  # fused relevance, higher is better
    similarity: float  # cosine similarity to the query


@dataclass(frozen=True)
class Event:
    """One change to a memory, as its history records it."""

    memory_id: str
    user_id: str
    event: str  # ADD | UPDATE | DELETE | SUPERSEDE
    old_text: str | None
    new_text: str | None
    at: datetime
    source: str | None = None  # turn id, "api", "import", ...
    extractor: str | None = None  # offline | llm:<model> | api
    session_id: str | None = None
