"""The /mcp route of the proxy app, before and after the MCP endpoint exists.

The MCP SDK takes ~1.5 s to import, so the app imports it in its lifespan, in a worker thread
while the memory store opens, and attaches the endpoint here; this module imports nothing of it.
"""

from __future__ import annotations

from typing import Protocol

from starlette.types import Receive, Scope, Send

from proxy.core.errors import NotFound, StoreUnavailable, error_response

__all__ = ["McpRoute"]


class _Asgi(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class McpRoute:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._endpoint: _Asgi | None = None

    def attach(self, endpoint: _Asgi) -> None:
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._endpoint is not None:
            await self._endpoint(scope, receive, send)
            return
        error = (
            StoreUnavailable("the MCP endpoint is not ready", code="mcp_unavailable")
            if self.enabled
            else NotFound("MCP is turned off on this proxy (mcp_enabled: false)", code="mcp_off")
        )
        await error_response(error)(scope, receive, send)
