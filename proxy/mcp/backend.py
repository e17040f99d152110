"""Where the MCP tools read and write: the proxy's own MemoryService (in the proxy, or a stdio
server that owns the data dir), or a running proxy's /memories API (`remote.py`).

Both speak the management API's JSON shapes (proxy/http/memories/schemas.py), so an agent sees
the same memory objects whichever way it is connected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from proxy.core.errors import InvalidRequest, MemoryToolError, MemoryUnavailable, ProxyError
from proxy.core.scope import Scope
from proxy.http.memories.paging import paginate
from proxy.http.memories.schemas import MemoryOut, SearchHit, WriteOut
from proxy.memory import admin as manage
from proxy.memory.service import MemoryService

__all__ = ["PROFILE_KINDS", "LocalBackend", "MemoryBackend", "profile_of"]

T = TypeVar("T")
Json = dict[str, Any]

# What a proxy older than the profile tier (no `tier` on its memories) counts as the profile.
PROFILE_KINDS = frozenset({"preference", "constraint"})


class MemoryBackend(Protocol):
    async def add(self, scope: Scope, text: str, kind: str, ttl_seconds: int | None) -> Json: ...
    async def search(self, scope: Scope, query: str, k: int) -> list[Json]: ...
    async def page(self, scope: Scope, limit: int, cursor: str | None) -> Json: ...
    async def profile(self, scope: Scope) -> Json: ...
    async def get(self, memory_id: str) -> Json | None: ...
    async def update(self, memory_id: str, text: str) -> Json: ...
    async def delete(self, memory_id: str) -> Json: ...
    async def close(self) -> None: ...


def profile_of(scope: Scope, memories: list[Json]) -> Json:
    """The shape of GET /memories/profile, from a list of memories: those of the profile tier
    (from a proxy without tiers: its preferences and constraints)."""

    def standing(memory: Json) -> bool:
        tier = memory.get("tier")
        return tier == "profile" if tier is not None else memory.get("kind") in PROFILE_KINDS

    return {
        "object": "memory.profile",
        "user_id": scope.user_id,
        "data": [m for m in memories if standing(m)],
    }


class LocalBackend:
    """Over a MemoryService in this process. `memory` is read per call: the proxy opens its
    store in the lifespan, after the MCP endpoint was built (None: the store is unavailable)."""

    def __init__(self, memory: Callable[[], MemoryService | None]) -> None:
        self._memory = memory

    async def _run(self, call: Callable[[MemoryService], T]) -> T:
        memory = self._memory()
        if memory is None:
            raise MemoryToolError("the memory store is unavailable; try again later")
        try:
            return await asyncio.to_thread(call, memory)
        except (MemoryUnavailable, OSError) as exc:
            raise MemoryToolError(f"the memory store failed: {exc}") from exc
        except ProxyError as exc:
            raise MemoryToolError(exc.message) from exc

    async def add(self, scope: Scope, text: str, kind: str, ttl_seconds: int | None) -> Json:
        def write(memory: MemoryService) -> Json:
            now = memory.clock()
            expires_at = None
            if ttl_seconds is not None:
                expires_at = now + timedelta(seconds=ttl_seconds)
            written = manage.remember_text(memory, scope, text, kind, None, expires_at, None)  # type: ignore[arg-type]
            return WriteOut(
                added=[MemoryOut.of(m) for m in written.added],
                updated=[MemoryOut.of(m) for m in written.updated],
                superseded=[MemoryOut.of(m) for m in written.superseded],
            ).model_dump(mode="json")

        return await self._run(write)

    async def search(self, scope: Scope, query: str, k: int) -> list[Json]:
        hits = await self._run(lambda m: m.search_blocking(scope, query, k))
        return [SearchHit.of_hit(hit).model_dump(mode="json") for hit in hits]

    async def page(self, scope: Scope, limit: int, cursor: str | None) -> Json:
        memories = await self._run(lambda m: m.list_blocking(scope))
        try:
            page = paginate(memories, cursor, limit)
        except InvalidRequest as exc:
            raise MemoryToolError(exc.message) from exc
        return {
            "object": "list",
            "data": [MemoryOut.of(m).model_dump(mode="json") for m in page.items],
            "has_more": page.next_cursor is not None,
            "next_cursor": page.next_cursor,
        }

    async def profile(self, scope: Scope) -> Json:
        memories = await self._run(lambda m: m.profile_blocking(scope))
        return profile_of(scope, [MemoryOut.of(m).model_dump(mode="json") for m in memories])

    async def get(self, memory_id: str) -> Json | None:
        found = await self._run(lambda m: manage.visible(m.get_blocking(memory_id), m.clock()))
        return None if found is None else MemoryOut.of(found).model_dump(mode="json")

    async def update(self, memory_id: str, text: str) -> Json:
        def change(memory: MemoryService) -> Json:
            found = manage.visible(memory.get_blocking(memory_id), memory.clock())
            if found is None:
                raise MemoryToolError(f"no memory with id {memory_id!r}")
            updated = memory.update_blocking(found, text=text, source="mcp")
            return MemoryOut.of(updated).model_dump(mode="json")

        return await self._run(change)

    async def delete(self, memory_id: str) -> Json:
        def remove(memory: MemoryService) -> Json:
            found = manage.visible(memory.get_blocking(memory_id), memory.clock())
            if found is None:
                raise MemoryToolError(f"no memory with id {memory_id!r}")
            memory.delete_blocking([found], source="mcp")
            return {"object": "memory.deleted", "id": memory_id, "deleted": True}

        return await self._run(remove)

    async def close(self) -> None:
        return None
