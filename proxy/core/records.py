"""The memory record and what a search returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from proxy.core.scope import Scope


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

    def live(self, now: datetime) -> bool:
        return self.status == "active" and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Hit:
    memory: Memory
    score: float  # fused relevance, higher is better
    similarity: float  # cosine similarity to the query
