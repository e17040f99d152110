"""Memory management over `MemoryService`: explicit writes, import with history, export, stats.

Blocking, like the service methods they call: routes run them in a worker thread.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from proxy.core.records import Event, Memory, Tier
from proxy.core.scope import Scope
from proxy.memory.extract.guard import screen
from proxy.memory.extract.offline import FactKind, classified, extract_offline
from proxy.memory.extract.redact import redact
from proxy.memory.service import MemoryService, WriteResult
from proxy.memory.storage.rows import to_metadata
from proxy.memory.write.pipeline import ExtractionStats

__all__ = [
    "ImportCounts",
    "UserTally",
    "exportable",
    "import_memories",
    "new_source",
    "remember_messages",
    "remember_text",
    "tally",
    "visible",
]


@dataclass(frozen=True)
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class UserTally:
    live: int
    superseded: int


def new_source() -> str:
    """Ids derive from the source, so every API write gets a source of its own."""
    return f"api:{uuid.uuid4()}"


def remember_text(
    service: MemoryService,
    scope: Scope,
    text: str,
    kind: FactKind,
    occurred_at: datetime | None,
    expires_at: datetime | None,
    metadata: dict[str, str] | None,
    tier: Tier | None = None,
) -> WriteResult:
    """Store `text` as one memory (a near-duplicate of a live memory updates it instead). The
    tier is classified from the text unless given."""
    fact = classified(text, kind)
    if tier is not None:
        fact = replace(fact, tier=tier)
    return service.remember_blocking(
        scope,
        [fact],
        occurred_at,
        new_source(),
        extractor="api",
        expires_at=expires_at,
        metadata=metadata,
    )


def remember_messages(
    service: MemoryService,
    scope: Scope,
    user_texts: Sequence[str],
    occurred_at: datetime | None,
    expires_at: datetime | None,
    stats: ExtractionStats,
    redact_contacts: bool = True,
) -> WriteResult:
    """Each user message as a chat turn would be: secrets removed, pasted parts and override
    attempts left out (counted in `stats`), extracted, forgets honoured."""
    written = WriteResult()
    source = new_source()
    for turn, text in enumerate(user_texts):
        own = stats.count(screen(redact(text, contacts=redact_contacts).text))
        extraction = extract_offline(own.text)
        for target in extraction.forget:
            written.deleted += service.forget_blocking(scope, target, source=source)
        result = service.remember_blocking(
            scope, extraction.facts, occurred_at, f"{source}:{turn}", expires_at=expires_at
        )
        written.take(result)
    return written


def visible(memory: Memory | None, now: datetime) -> Memory | None:
    """A memory past its expiry is gone, even before the purge removes it from disk."""
    if memory is None or (memory.expires_at is not None and memory.expires_at <= now):
        return None
    return memory


def exportable(service: MemoryService, user_id: str | None) -> Iterator[list[Memory]]:
    """Pages of every unexpired memory (superseded ones too: they carry history)."""
    if user_id is not None:
        memories = service.list_blocking(Scope(user_id), include_inactive=True)
        yield [m for m in memories if visible(m, service.clock())]
        return
    seen: set[str] = set()  # the store pages by offset; never write a memory twice
    for page in service.scan_blocking():
        now = service.clock()
        fresh = [m for m in page if m.id not in seen and visible(m, now)]
        seen.update(m.id for m in fresh)
        yield fresh


def tally(service: MemoryService) -> dict[str, UserTally]:
    now = service.clock()
    live: Counter[str] = Counter()
    superseded: Counter[str] = Counter()
    for page in service.scan_blocking():
        for memory in page:
            if memory.live(now):
                live[memory.scope.user_id] += 1
            elif visible(memory, now):
                superseded[memory.scope.user_id] += 1
    return {
        user: UserTally(live[user], superseded[user]) for user in sorted(live.keys() | superseded)
    }


def import_memories(service: MemoryService, memories: Sequence[Memory]) -> ImportCounts:
    """Upsert with ids kept; identical memories are skipped, so importing twice changes nothing.
    Each change is recorded in history. An id held by another user moves to the imported one."""
    latest = {m.id: m for m in memories}  # the last line wins for a repeated id
    stored = {m.id: m for m in service.store.get(list(latest))}
    moved = [old for old in stored.values() if old.scope.user_id != latest[old.id].scope.user_id]
    service.delete_blocking(moved, source="import")
    for gone in moved:
        del stored[gone.id]
    events: list[Event] = []
    changed: list[Memory] = []
    unchanged = 0
    now = service.clock()
    for memory in latest.values():
        old = stored.get(memory.id)
        if old is not None and _same(old, memory):
            unchanged += 1
            continue
        changed.append(memory)
        events.append(_event(memory, "ADD" if old is None else "UPDATE", old, now))
    service.import_blocking(changed)
    service.history.record(events)
    added = sum(1 for e in events if e.event == "ADD")
    return ImportCounts(added=added, updated=len(events) - added, unchanged=unchanged)


def _same(a: Memory, b: Memory) -> bool:
    """Equal as stored (times compared at the store's precision)."""
    return a.text == b.text and to_metadata(a) == to_metadata(b)


def _event(memory: Memory, kind: str, old: Memory | None, at: datetime) -> Event:
    return Event(
        memory_id=memory.id,
        user_id=memory.scope.user_id,
        session_id=memory.scope.session_id,
        event=kind,
        old_text=old.text if old is not None else None,
        new_text=memory.text,
        at=at,
        source="import",
        extractor=None,
    )
