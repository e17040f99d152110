"""What every memory management route shares: the store or a 503, off-loop calls, scope ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from proxy.core.errors import MemoryUnavailable, StoreUnavailable
from proxy.core.scope import Scope, validate_id
from proxy.deps import Services
from proxy.memory.service import MemoryService

__all__ = ["blocking", "flush_writes", "memory_of", "scope_of"]

T = TypeVar("T")


def memory_of(services: Services) -> MemoryService:
    if services.memory is None:
        raise StoreUnavailable(f"the memory store is unavailable: {services.memory_error}")
    return services.memory


async def blocking(services: Services, call: Callable[[MemoryService], T]) -> T:
    """Run a blocking memory operation in a worker thread; a store failure becomes a 503."""
    memory = memory_of(services)
    try:
        return await asyncio.to_thread(call, memory)
    except MemoryUnavailable as exc:
        raise StoreUnavailable(str(exc)) from exc


def scope_of(user_id: str, session_id: str | None = None, agent_id: str | None = None) -> Scope:
    """A scope from query parameters; a malformed id is a 400, never a fallback."""
    return Scope(
        user_id=validate_id(user_id, "user_id"),
        session_id=None if session_id is None else validate_id(session_id, "session_id"),
        agent_id=None if agent_id is None else validate_id(agent_id, "agent_id"),
    )


async def flush_writes(services: Services, timeout: float, *, report_lost: bool = False) -> None:
    """Wait until every write accepted so far is stored (or parked), or answer 503. With
    `report_lost`, also 503 when turns could not be persisted since the last such flush, or
    cannot be now (a full disk): a flush must not claim success for answered turns it lost."""
    writer = services.writer
    if writer is None:
        raise StoreUnavailable(f"the memory store is unavailable: {services.memory_error}")
    if not await writer.flush(timeout):
        raise StoreUnavailable(
            f"pending memory writes did not finish within {timeout} s", code="flush_timeout"
        )
    if not report_lost:
        return
    lost = writer.take_unpersisted()
    if lost or not writer.persisting():
        raise StoreUnavailable(
            f"{lost} answered turns could not be persisted since the last flush"
            + (
                "" if writer.persisting() else "; the outbox refuses writes now (is the disk full?)"
            ),
            code="writes_not_persisted",
        )
