"""Streamable HTTP MCP at /mcp on the running proxy, over its own MemoryService.

Who may connect is decided as for /memories (proxy/http/auth.py: the admin key, or loopback
clients while none is set). Whose memory a connection reaches is named by the request that opens
the MCP session (X-User-Id, else ?user_id=; X-Agent-Id and X-Session-Id narrow it) and is bound
to the session: a later request of the session that names anyone else is answered "Session not
found", as for a session that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from proxy.core.errors import InvalidRequest, ProxyError, error_response
from proxy.core.scope import USER_HEADER, Scope, resolve_scope
from proxy.http.auth import authorize
from proxy.mcp.backend import LocalBackend
from proxy.mcp.tools import build_server
from proxy.memory.service import MemoryService
from proxy.settings import Settings, secret

__all__ = ["PATH", "McpEndpoint"]

PATH = "/mcp"
_SCOPE_KEY = "memory_proxy.scope"  # where the connection's Scope rides in the ASGI scope
# With no admin key, loopback clients get in without one: then a web page must not reach /mcp
# through DNS rebinding (a Host or Origin other than this machine's is refused).
_LOCAL_ONLY = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


def scope_of_request(ctx: Context) -> Scope:
    request = ctx.request_context.request
    scope = request.scope.get(_SCOPE_KEY) if isinstance(request, Request) else None
    if not isinstance(scope, Scope):
        raise ToolError("this connection names no user")
    return scope


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _principal(scope: Scope) -> AuthenticatedUser:
    """The MCP SDK binds a session to the principal that opened it; ours is the memory scope."""
    client_id = json.dumps([scope.user_id, scope.session_id, scope.agent_id], ensure_ascii=False)
    return AuthenticatedUser(AccessToken(token="memory-proxy", client_id=client_id, scopes=[]))


class McpEndpoint:
    """An ASGI app for the /mcp route; `running()` goes in the app's lifespan."""

    def __init__(self, settings: Settings, memory: Callable[[], MemoryService | None]) -> None:
        self._settings = settings
        server = build_server(LocalBackend(memory), scope_of_request)
        local_only = settings.admin_key is None
        # Builds the SDK's session manager; the Starlette app it returns is not used: the route
        # is ours, so that auth and scope come first.
        server.streamable_http_app(
            streamable_http_path=PATH,
            transport_security=_LOCAL_ONLY
            if local_only
            else TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._manager = server.session_manager

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._manager.run():
            yield

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            authorize(
                secret(self._settings.admin_key),
                _bearer(request),
                request.client.host if request.client else None,
            )
            memory_scope = resolve_scope(request.headers, None, request.query_params).scope
            if memory_scope is None:
                raise InvalidRequest(
                    "an MCP connection names its user: send X-User-Id (or ?user_id=)",
                    param=USER_HEADER,
                    code="missing_user",
                )
        except ProxyError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope["user"] = _principal(memory_scope)
        scope[_SCOPE_KEY] = memory_scope
        await self._manager.handle_request(scope, receive, send)
