"""The write policy (pure): what a new fact does to what is stored. Updates over appends.

- A fact close to a live memory of the same scope (cosine at or above the dedup threshold) is
  the same statement said again: that memory is updated in place (its id kept).
- A fact that sets a single-valued attribute (where the user lives, the answer language, ...)
  supersedes the older live statements of that attribute; a statement older than one already
  stored (an import of something said earlier) is itself stored as superseded.
Ids derive from the turn and the fact's position, so reprocessing a turn after a crash overwrites
what the first attempt wrote instead of adding copies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from proxy.core.records import Event, Memory, Tier
from proxy.core.scope import Scope
from proxy.core.times import not_after

__all__ = [
    "Change",
    "FactLike",
    "WriteResult",
    "memory_id",
    "reconcile",
]

_ID_NAMESPACE = uuid.UUID("6f1d3c52-8a55-4c8e-9d0e-3b7c2a9e4f10")


class FactLike(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def tier(self) -> Tier: ...
    @property
    def attribute(self) -> str | None: ...


@dataclass
class WriteResult:
    added: list[Memory] = field(default_factory=list)
    updated: list[Memory] = field(default_factory=list)
    superseded: list[Memory] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def take(self, other: WriteResult) -> None:
        """Add another write's outcome to this one (several writes behind one API call)."""
        self.added += other.added
        self.updated += other.updated
        self.superseded += other.superseded
        self.deleted += other.deleted


@dataclass(frozen=True)
class Change:
    """What one fact does: the memory to write, and the older ones it replaces."""

    memory: Memory
    added: bool  # a new memory (ADD); else an update of a near-duplicate
    superseded: tuple[Memory, ...] = ()
    events: tuple[Event, ...] = ()


def memory_id(source: str, index: int) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}:{index}"))


def event(
    memory: Memory,
    kind: str,
    old_text: str | None,
    at: datetime,
    *,
    source: str | None,
    extractor: str | None = None,
) -> Event:
    return Event(
        memory_id=memory.id,
        user_id=memory.scope.user_id,
        session_id=memory.scope.session_id,
        event=kind,
        old_text=old_text,
        new_text=None if kind == "DELETE" else memory.text,
        at=at,
        source=source,
        extractor=extractor,
    )


def reconcile(
    fact: FactLike,
    *,
    scope: Scope,
    new_id: str,
    nearest: tuple[Memory, float] | None,
    same_attribute: Sequence[Memory],
    dedup_similarity: float,
    now: datetime,
    occurred_at: datetime | None,
    source: str,
    extractor: str,
    expires_at: datetime | None,
    metadata: dict[str, str] | None = None,
) -> Change:
    """The change one fact makes, given the closest live memory of its scope and the live
    memories that set the same attribute."""
    when = not_after(occurred_at or now, now)
    duplicate = nearest[0] if nearest and nearest[1] >= dedup_similarity else None
    if duplicate is not None:
        memory = replace(
            duplicate,
            text=fact.text,
            kind=fact.kind,
            tier=fact.tier,
            attribute=fact.attribute,
            occurred_at=max(duplicate.occurred_at, when),
            updated_at=now,
            source=source,
            expires_at=expires_at or duplicate.expires_at,
            metadata=duplicate.metadata if metadata is None else metadata,
        )
        events: tuple[Event, ...] = ()
        if duplicate.text != fact.text:
            events = (
                event(memory, "UPDATE", duplicate.text, now, source=source, extractor=extractor),
            )
        return Change(memory, added=False, events=events)
    memory = Memory(
        id=new_id,
        text=fact.text,
        scope=scope,
        created_at=now,
        occurred_at=when,
        kind=fact.kind,
        source=source,
        expires_at=expires_at,
        tier=fact.tier,
        attribute=fact.attribute,
        metadata=metadata or {},
    )
    events_list = [event(memory, "ADD", None, now, source=source, extractor=extractor)]
    superseded: list[Memory] = []
    for other in same_attribute if fact.attribute else ():
        if other.id == memory.id:
            continue
        if not_after(other.occurred_at, now) <= memory.occurred_at:
            old = replace(other, status="superseded", superseded_by=memory.id, updated_at=now)
            superseded.append(old)
            events_list.append(
                event(old, "SUPERSEDE", other.text, now, source=source, extractor=extractor)
            )
        else:  # an import of something said earlier than what we already know
            memory = replace(memory, status="superseded", superseded_by=other.id)
            events_list.append(
                event(memory, "SUPERSEDE", memory.text, now, source=other.id, extractor=extractor)
            )
    return Change(memory, added=True, superseded=tuple(superseded), events=tuple(events_list))
