"""The /mcp route of the proxy app, before and after the MCP endpoint exists.

The MCP SDK takes ~1.5 s and ~26 MiB to import, so the endpoint starts on the first request to
/mcp (a proxy whose clients never use MCP never pays for it); this module imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
        self._start: Callable[[], Awaitable[_Asgi | None]] | None = None
        self._tried = False

    def start_on_first_use(self, start: Callable[[], Awaitable[_Asgi | None]] | None) -> None:
        """`start()` gives the running endpoint (the same one however often it is awaited), or
        None if it could not start; None: no endpoint (the app is shutting down)."""
        self._start = start
        self._endpoint = None

    def state(self) -> str:
        """off, idle (not started: no client asked yet), running, or unavailable."""
        if not self.enabled:
            return "off"
        if self._endpoint is not None:
            return "running"
        return "unavailable" if self._tried else "idle"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._endpoint is None and self._start is not None:
            self._tried = True
            self._endpoint = await self._start()
        if self._endpoint is not None:
            await self._endpoint(scope, receive, send)
            return
        error = (
            StoreUnavailable("the MCP endpoint is not ready", code="mcp_unavailable")
            if self.enabled
            else NotFound("MCP is turned off on this proxy (mcp_enabled: false)", code="mcp_off")
        )
        await error_response(error)(scope, receive, send)
