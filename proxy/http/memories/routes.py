"""The memory management API, outside OpenAI's /v1/ namespace: see, fix, export and erase what
the proxy remembers. Every route here needs the admin key, or a loopback client when none is set
(see proxy/auth.py); chat traffic never comes through here."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from proxy.core.conversation import text_of
from proxy.core.errors import NotFound, StoreUnavailable
from proxy.core.inject import render
from proxy.core.records import Memory, Tier
from proxy.core.tokens import estimate_tokens
from proxy.deps import Services, ServicesDep
from proxy.http.auth import require_admin
from proxy.http.memories import injections, transfer
from proxy.http.memories.access import (
    blocking,
    flush_writes,
    memory_of,
    scope_of,
)
from proxy.http.memories.paging import paginate
from proxy.http.memories.schemas import (
    CreateMemory,
    Deleted,
    Erased,
    EventOut,
    FlushResult,
    HistoryList,
    MemoryList,
    MemoryOut,
    Profile,
    SearchHit,
    SearchRequest,
    SearchResults,
    Stats,
    UpdateMemory,
    UserCount,
    WriteOut,
)
from proxy.memory import admin as manage
from proxy.memory.service import MemoryService, WriteResult

__all__ = ["StoreUnavailable", "router"]

router = APIRouter(prefix="/memories", tags=["memories"], dependencies=[Depends(require_admin)])
# Fixed paths (/export, /import, /stats, ...) come before /{memory_id}, which would match them.
router.include_router(transfer.router)
router.include_router(injections.router)

UserId = Annotated[str, Query(description="whose memories")]
SessionId = Annotated[str | None, Query(description="narrow to this session")]
AgentId = Annotated[str | None, Query(description="narrow to this agent")]


@router.get("", response_model=MemoryList)
async def list_memories(
    services: ServicesDep,
    user_id: UserId,
    session_id: SessionId = None,
    agent_id: AgentId = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    include_superseded: Annotated[
        bool, Query(description="also list statements a newer one replaced")
    ] = False,
    tier: Annotated[Tier | None, Query(description="only this tier")] = None,
) -> MemoryList:
    """A user's live memories, oldest first, a page at a time. Expired ones are never listed."""
    scope = scope_of(user_id, session_id, agent_id)
    memories = await blocking(services, lambda m: m.list_blocking(scope, include_superseded))
    if tier is not None:
        memories = [m for m in memories if m.tier == tier]
    page = paginate(memories, cursor, limit)
    return MemoryList(
        data=[MemoryOut.of(m) for m in page.items],
        has_more=page.next_cursor is not None,
        next_cursor=page.next_cursor,
    )


@router.delete("", response_model=Erased)
async def erase_memories(
    services: ServicesDep, user_id: UserId, session_id: SessionId = None
) -> Erased:
    """Delete every memory of a user (with their history and injection log), or of one session
    of a user. Writes accepted before this call are stored first, so none of them comes back
    afterwards. With
    `write.compact_on_erase` (the default) the text also leaves the embedded store's files and
    the outbox before this returns (README: what an erase removes)."""
    scope = scope_of(user_id, session_id)
    memory_of(services)
    await flush_writes(services, timeout=60.0)
    compact = services.settings.write.compact_on_erase
    count = await blocking(services, lambda m: m.erase_blocking(scope, compact=compact))
    if services.writer is not None:
        await services.writer.erase_user(scope.user_id, scope.session_id)
    if services.injections is not None:  # what was injected into their calls goes too
        await services.injections.erase(scope.user_id, scope.session_id)
    return Erased(user_id=scope.user_id, session_id=scope.session_id, deleted=count)


@router.post("", response_model=WriteOut, status_code=201)
async def create_memory(services: ServicesDep, body: CreateMemory) -> WriteOut:
    """Store `text` as one memory, or run the user's `messages` through the extractor as a chat
    turn would. A text close to a live memory of the same scope updates it instead of adding
    a copy; a newer statement of a single-valued fact (where the user lives, ...) supersedes
    the older one. Texts holding secrets are refused."""
    body.check()
    written = await blocking(services, lambda m: _create(m, body, services))
    return WriteOut(
        added=[MemoryOut.of(m) for m in written.added],
        updated=[MemoryOut.of(m) for m in written.updated],
        superseded=[MemoryOut.of(m) for m in written.superseded],
        deleted=written.deleted,
    )


def _create(memory: MemoryService, body: CreateMemory, services: Services) -> WriteResult:
    default_ttl_days = services.settings.write.default_ttl_days
    expires_at = body.expiry(memory.clock())
    if body.text is not None:
        return manage.remember_text(
            memory,
            body.scope,
            body.text.strip(),
            body.kind,
            body.occurred_at,
            expires_at,
            body.metadata,
            body.tier,
        )
    if expires_at is None and default_ttl_days is not None:  # as for memories written from chats
        expires_at = memory.clock() + timedelta(days=default_ttl_days)
    texts = [text_of(m.content) for m in body.messages or [] if m.role == "user"]
    return manage.remember_messages(
        memory,
        body.scope,
        texts,
        body.occurred_at,
        expires_at,
        services.extraction,
        redact_contacts=services.settings.write.redact_contacts,
    )


@router.post("/search", response_model=SearchResults)
async def search_memories(services: ServicesDep, body: SearchRequest) -> SearchResults:
    """The `k` memories most relevant to `query`, as chat retrieval ranks them (vector and
    keyword search fused); weakly related memories are left out, so fewer may come back."""
    hits = await blocking(services, lambda m: m.search_blocking(body.scope, body.query, body.k))
    return SearchResults(data=[SearchHit.of_hit(hit) for hit in hits])


@router.get("/stats", response_model=Stats)
async def memory_stats(services: ServicesDep) -> Stats:
    """Memories per user and in total (one pass over the store)."""
    tallies = await blocking(services, manage.tally)
    users = [
        UserCount(user_id=u, memories=t.live, superseded=t.superseded) for u, t in tallies.items()
    ]
    return Stats(
        total=sum(t.live for t in tallies.values()),
        superseded=sum(t.superseded for t in tallies.values()),
        users=users,
    )


@router.post("/flush", response_model=FlushResult)
async def flush(
    services: ServicesDep,
    timeout: Annotated[float, Query(gt=0, le=600, description="seconds to wait")] = 60.0,
) -> FlushResult:
    """Returns once every write accepted before this call is stored (or parked as failed); 503
    if answered turns could not be persisted since the last flush (a full disk)."""
    await flush_writes(services, timeout, report_lost=True)
    assert services.writer is not None
    return FlushResult(flushed=True, backlog=await services.writer.backlog())


@router.get("/profile", response_model=Profile)
async def user_profile(services: ServicesDep, user_id: UserId, agent_id: AgentId = None) -> Profile:
    """The user's standing profile (what holds until they change it), and what of it a request
    would carry: all of it when it fits its share of the budget, else the newest that fit (a
    request chooses by relevance to its question too)."""
    scope = scope_of(user_id, None, agent_id)
    plan = services.recall_plan

    def read(memory: MemoryService) -> tuple[list[Memory], list[Memory]]:
        return memory.profile_blocking(scope), memory.recall_blocking(scope, "", plan).profile

    items, chosen = await blocking(services, read)
    block, _ = render(chosen, [], "cache-aware")
    return Profile(
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        data=[MemoryOut.of(m) for m in items],
        injected=[m.id for m in chosen],
        block=block or "",
        tokens=estimate_tokens(block or ""),
    )


@router.get("/{memory_id}", response_model=MemoryOut)
async def get_memory(services: ServicesDep, memory_id: str) -> MemoryOut:
    return MemoryOut.of(await _existing(services, memory_id))


@router.patch("/{memory_id}", response_model=MemoryOut)
async def update_memory(services: ServicesDep, memory_id: str, body: UpdateMemory) -> MemoryOut:
    """Change the text, the metadata (replaced as a whole) or the expiry; recorded in history."""
    body.check()
    found = await _existing(services, memory_id)

    def update(memory: MemoryService) -> Memory:
        return memory.update_blocking(
            found,
            text=body.text.strip() if body.text is not None else None,
            metadata=body.metadata,
            expires_at=body.expiry(memory.clock()),
            clear_expiry=body.clears_expiry,
        )

    return MemoryOut.of(await blocking(services, update))


@router.delete("/{memory_id}", response_model=Deleted)
async def delete_memory(services: ServicesDep, memory_id: str) -> Deleted:
    found = await _existing(services, memory_id)
    await blocking(services, lambda m: m.delete_blocking([found], source="api"))
    return Deleted(id=found.id)


@router.get("/{memory_id}/history", response_model=HistoryList)
async def memory_history(services: ServicesDep, memory_id: str) -> HistoryList:
    """Every change to the memory, oldest first; kept after a delete, erased with the user."""
    events = await blocking(services, lambda m: m.history.of(memory_id))
    if not events and await blocking(services, lambda m: m.get_blocking(memory_id)) is None:
        raise NotFound(f"no memory with id {memory_id!r}", param="memory_id")
    return HistoryList(data=[EventOut.of(e) for e in events])


router.include_router(injections.memory_router)


async def _existing(services: Services, memory_id: str) -> Memory:
    def get(memory: MemoryService) -> Memory | None:
        return manage.visible(memory.get_blocking(memory_id), memory.clock())

    found = await blocking(services, get)
    if found is None:
        raise NotFound(f"no memory with id {memory_id!r}", param="memory_id")
    return found
