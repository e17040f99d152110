"""The proxy's own memory routes, outside OpenAI's /v1/ namespace."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from proxy.errors import MemoryUnavailable, ProxyError
from proxy.memory.models import Memory
from proxy.scope import Scope, validate_id
from proxy.services import Services, ServicesDep

router = APIRouter(prefix="/memories", tags=["memories"])


class MemoryOut(BaseModel):
    id: str
    text: str
    user_id: str
    session_id: str | None
    agent_id: str | None
    kind: str
    created_at: datetime
    occurred_at: datetime
    updated_at: datetime | None
    source: str | None

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        return cls(
            id=memory.id,
            text=memory.text,
            user_id=memory.scope.user_id,
            session_id=memory.scope.session_id,
            agent_id=memory.scope.agent_id,
            kind=memory.kind,
            created_at=memory.created_at,
            occurred_at=memory.occurred_at,
            updated_at=memory.updated_at,
            source=memory.source,
        )


class MemoryList(BaseModel):
    object: str = "list"
    data: list[MemoryOut]


class FlushResult(BaseModel):
    flushed: bool
    backlog: dict[str, int]


class StoreUnavailable(ProxyError):
    status = 503
    type = "server_error"
    code = "memory_unavailable"


def _memory(services: Services) -> Any:
    if services.memory is None:
        raise StoreUnavailable(f"the memory store is unavailable: {services.memory_error}")
    return services.memory


@router.get("", response_model=MemoryList)
async def list_memories(
    services: ServicesDep,
    user_id: Annotated[str, Query(description="whose memories")],
    session_id: Annotated[str | None, Query()] = None,
    agent_id: Annotated[str | None, Query()] = None,
) -> MemoryList:
    scope = Scope(
        user_id=validate_id(user_id, "user_id"),
        session_id=None if session_id is None else validate_id(session_id, "session_id"),
        agent_id=None if agent_id is None else validate_id(agent_id, "agent_id"),
    )
    try:
        memories = await asyncio.to_thread(_memory(services).list_blocking, scope)
    except MemoryUnavailable as exc:
        raise StoreUnavailable(str(exc)) from exc
    return MemoryList(data=[MemoryOut.of(m) for m in memories])


@router.post("/flush", response_model=FlushResult)
async def flush(
    services: ServicesDep,
    timeout: Annotated[float, Query(gt=0, le=600, description="seconds to wait")] = 60.0,
) -> FlushResult:
    """Returns once every write accepted before this call is stored (or parked as failed)."""
    if services.writer is None:
        raise StoreUnavailable(f"the memory store is unavailable: {services.memory_error}")
    flushed = await services.writer.flush(timeout)
    if not flushed:
        raise StoreUnavailable(
            f"pending memory writes did not finish within {timeout} s", code="flush_timeout"
        )
    return FlushResult(flushed=True, backlog=services.writer.backlog())
