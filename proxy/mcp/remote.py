"""The MCP tools over a running proxy's /memories API (httpx): the stdio server's default, so
that the embedded store stays owned by the one process that serves it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from proxy.core.errors import MemoryToolError
from proxy.core.scope import Scope
from proxy.mcp.backend import profile_of

__all__ = ["RemoteBackend"]

Json = dict[str, Any]


def _scope_fields(scope: Scope) -> Json:
    fields = {"user_id": scope.user_id, "session_id": scope.session_id, "agent_id": scope.agent_id}
    return {key: value for key, value in fields.items() if value is not None}


class RemoteBackend:
    def __init__(self, url: str, admin_key: str | None = None, timeout_s: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout_s)

    async def add(self, scope: Scope, text: str, kind: str, ttl_seconds: int | None) -> Json:
        body: Json = {**_scope_fields(scope), "text": text, "kind": kind}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        result: Json = await self._json("POST", "/memories", json=body)
        return result

    async def search(self, scope: Scope, query: str, k: int) -> list[Json]:
        body = {**_scope_fields(scope), "query": query, "k": k}
        found: list[Json] = (await self._json("POST", "/memories/search", json=body))["data"]
        return found

    async def page(self, scope: Scope, limit: int, cursor: str | None) -> Json:
        params: Json = {**_scope_fields(scope), "limit": limit}
        if cursor:
            params["cursor"] = cursor
        result: Json = await self._json("GET", "/memories", params=params)
        return result

    async def profile(self, scope: Scope) -> Json:
        response = await self._send("GET", "/memories/profile", params=_scope_fields(scope))
        if response.status_code != 404:
            result: Json = self._checked(response)
            return result
        # A proxy without the profile route reads "profile" as a memory id: build it here.
        memories: list[Json] = []
        cursor: str | None = None
        while True:
            page = await self.page(scope, 1000, cursor)
            memories += page["data"]
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return profile_of(scope, memories)

    async def get(self, memory_id: str) -> Json | None:
        response = await self._send("GET", f"/memories/{quote(memory_id, safe='')}")
        if response.status_code == 404:
            return None
        found: Json = self._checked(response)
        return found

    async def update(self, memory_id: str, text: str) -> Json:
        path = f"/memories/{quote(memory_id, safe='')}"
        result: Json = await self._json("PATCH", path, json={"text": text})
        return result

    async def delete(self, memory_id: str) -> Json:
        result: Json = await self._json("DELETE", f"/memories/{quote(memory_id, safe='')}")
        return result

    async def close(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._checked(await self._send(method, path, **kwargs))

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise MemoryToolError(
                f"cannot reach memory-proxy at {self.url}: {str(exc) or type(exc).__name__}"
            ) from exc

    @staticmethod
    def _checked(response: httpx.Response) -> Any:
        if not response.is_error:
            return response.json()
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200] or response.reason_phrase
        raise MemoryToolError(f"memory-proxy answered {response.status_code}: {message}")
