"""The injection log over HTTP: which memories reached the model on which call.

    GET /memories/injections?user_id=&limit=&cursor=   calls, newest first
    GET /memories/injections/{request_id}              one call (X-Memory-Request-Id), with the
                                                       memories injected as they are now
    GET /memories/{memory_id}/injections?limit=        the calls a memory was injected into

Admin rules as for every /memories route (the router's dependency).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from proxy.core.errors import InvalidRequest, NotFound
from proxy.core.scope import validate_id
from proxy.deps import Services, ServicesDep
from proxy.http.memories.access import blocking
from proxy.http.memories.schemas import MemoryOut
from proxy.memory.admin import visible
from proxy.memory.service import MemoryService
from proxy.memory.storage.injections import Injection
from proxy.observe.injections import InjectionLog

__all__ = ["InjectionDetail", "InjectionList", "InjectionOut", "memory_router", "router"]

router = APIRouter()
# /memories/{memory_id}/injections: included after the fixed paths, like /{memory_id}/history.
memory_router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=500, description="most calls returned")]


class InjectionOut(BaseModel):
    object: Literal["memory.injection"] = "memory.injection"
    request_id: str = Field(description="the X-Memory-Request-Id of the call")
    at: datetime
    route: str
    model: str | None
    user_id: str
    session_id: str | None
    agent_id: str | None
    status: str = Field(description="X-Memory-Status: injected, none, off or error")
    count: int = Field(description="memories injected")
    injected: dict[str, list[str]] = Field(description="memory ids by tier, in block order")
    tokens: int = Field(description="estimated tokens of the memory block")
    retrieval_ms: float

    @classmethod
    def of(cls, entry: Injection) -> InjectionOut:
        return cls(
            request_id=entry.request_id,
            at=datetime.fromtimestamp(entry.at, UTC),
            route=entry.route,
            model=entry.model,
            user_id=entry.user_id,
            session_id=entry.session_id,
            agent_id=entry.agent_id,
            status=entry.status,
            count=entry.count,
            injected={tier: list(ids) for tier, ids in entry.injected.items()},
            tokens=entry.tokens,
            retrieval_ms=round(entry.retrieval_ms, 3),
        )


class InjectionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[InjectionOut]
    has_more: bool = False
    next_cursor: str | None = Field(None, description="pass as `cursor` for older calls")


class InjectionDetail(InjectionOut):
    memories: list[MemoryOut] = Field(
        description="the memories injected, as stored now (edited since: see updated_at)"
    )
    missing: list[str] = Field(description="ids injected then and deleted or expired since")


def _log_of(services: Services) -> InjectionLog:
    if services.injections is None:
        raise NotFound(
            "the injection log is off (observability.injection_log) or unavailable",
            code="injection_log_off",
        )
    return services.injections


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"i{seq}".encode()).decode().rstrip("=")


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("i") or not raw[1:].isdigit():
            raise ValueError("bad cursor")
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "cursor is not one this server handed out", param="cursor", code="invalid_cursor"
        ) from None


def _page(entries: list[Injection], limit: int) -> InjectionList:
    more = len(entries) > limit
    shown = entries[:limit]
    return InjectionList(
        data=[InjectionOut.of(e) for e in shown],
        has_more=more,
        next_cursor=_cursor(shown[-1].seq) if more else None,
    )


@router.get("/injections", response_model=InjectionList)
async def list_injections(
    services: ServicesDep,
    user_id: Annotated[str | None, Query(description="only this user's calls")] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> InjectionList:
    """Calls that had a user, newest first: what memory did for each (ids, tokens, time)."""
    injections = _log_of(services)
    user = None if user_id is None else validate_id(user_id, "user_id")
    return _page(await injections.page(user, _before(cursor), limit + 1), limit)


@router.get("/injections/{request_id}", response_model=InjectionDetail)
async def get_injection(services: ServicesDep, request_id: str) -> InjectionDetail:
    """One call by its X-Memory-Request-Id: what the model saw of memory."""
    found = await _log_of(services).by_request(request_id)
    if not found:
        raise NotFound(f"no logged call with request id {request_id!r}", param="request_id")
    entry = found[0]
    ids = entry.ids()

    def current(memory: MemoryService) -> list[MemoryOut]:
        now = memory.clock()
        stored = {m.id: m for m in memory.store.get(ids) if visible(m, now)} if ids else {}
        return [MemoryOut.of(stored[i]) for i in ids if i in stored]

    memories = await blocking(services, current)
    kept = {m.id for m in memories}
    return InjectionDetail(
        **InjectionOut.of(entry).model_dump(),
        memories=memories,
        missing=[i for i in ids if i not in kept],
    )


@memory_router.get("/{memory_id}/injections", response_model=InjectionList)
async def memory_injections(
    services: ServicesDep,
    memory_id: str,
    limit: Limit = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> InjectionList:
    """The most recent calls this memory was injected into (also after it was deleted)."""
    injections = _log_of(services)
    owner = None
    if services.memory is not None:
        found = await blocking(services, lambda m: m.get_blocking(memory_id))
        owner = found.scope.user_id if found is not None else None
    # With the owner known only their calls are searched; for a deleted memory, every call.
    entries = await injections.of_memory(memory_id, owner, _before(cursor), limit + 1)
    return _page(entries, limit)
