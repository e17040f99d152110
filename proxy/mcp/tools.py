"""The MCP tools over one user's memory: add, search, list, profile, update, delete.

Whose memory is never a tool argument: `scope_of` reads it from the connection (the stdio
server's flags, or the HTTP session's X-User-Id), so a model cannot ask for another user's
memories. A memory id of another user answers exactly as an id that does not exist. Texts that
hold secrets are refused as on POST /memories; every refusal or failure is an MCP tool error
(`isError`), which the agent's model reads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from proxy import __version__
from proxy.core.errors import InvalidRequest, MemoryToolError
from proxy.core.scope import Scope, validate_id
from proxy.http.memories.schemas import MAX_TEXT_CHARS, secret_kinds
from proxy.mcp.backend import MemoryBackend

__all__ = ["INSTRUCTIONS", "ScopeOf", "build_server", "checked_text", "owns"]

T = TypeVar("T")
Json = dict[str, Any]
ScopeOf = Callable[[Context], Scope]
Kind = Literal["preference", "fact", "plan", "constraint", "event"]

INSTRUCTIONS = (
    "Long-term memory of the user this connection belongs to, shared with every app that "
    "reaches the same memory-proxy. Search it before answering questions about the user; add "
    "durable facts, preferences, plans and constraints the user states (one statement per "
    "memory, in the user's words and language); never store secrets. Newer statements of a "
    "single-valued fact replace older ones."
)


def checked_text(text: str) -> str:
    """The text as it will be stored, or a ToolError that says why not (pure)."""
    text = text.strip()
    if not text:
        raise ToolError("text must not be blank")
    if len(text) > MAX_TEXT_CHARS:
        raise ToolError(f"text is longer than {MAX_TEXT_CHARS} characters")
    kinds = secret_kinds(text)
    if kinds:
        raise ToolError(f"the text holds a secret ({kinds}); secrets are never stored")
    return text


def owns(scope: Scope, memory: Json) -> bool:
    """The connection's user may see this memory (narrowed to its session/agent when given)."""
    return (
        memory.get("user_id") == scope.user_id
        and (scope.session_id is None or memory.get("session_id") == scope.session_id)
        and (scope.agent_id is None or memory.get("agent_id") == scope.agent_id)
    )


async def _guard(call: Awaitable[T]) -> T:
    """The one place where a backend's refusal becomes an MCP tool error."""
    try:
        return await call
    except MemoryToolError as exc:
        raise ToolError(str(exc)) from exc


def _memory_id(value: str) -> str:
    try:
        return validate_id(value, "memory_id")
    except InvalidRequest as exc:
        raise ToolError(exc.message) from None


async def _owned(backend: MemoryBackend, scope: Scope, memory_id: str) -> Json:
    found = await _guard(backend.get(_memory_id(memory_id)))
    if found is None or not owns(scope, found):
        raise ToolError(f"no memory with id {memory_id!r}")
    return found


@contextlib.contextmanager
def _logging_as_it_was() -> Iterator[None]:
    """MCPServer() calls logging.basicConfig (INFO, a rich handler on stderr): in a process
    that had not configured logging yet (a test, a benchmark, an app embedding the proxy) every
    HTTP request would then be logged. Whatever it changes on the root logger is undone."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def build_server(backend: MemoryBackend, scope_of: ScopeOf) -> MCPServer:
    with _logging_as_it_was():
        server = MCPServer("memory-proxy", version=__version__, instructions=INSTRUCTIONS)

    @server.tool(description="Remember one statement about the user (a near-duplicate updates it).")
    async def add_memory(
        ctx: Context,
        text: Annotated[str, Field(description="one statement, e.g. 'I am vegetarian'")],
        kind: Annotated[Kind, Field(description="what sort of statement")] = "fact",
        ttl_seconds: Annotated[
            int | None, Field(ge=1, description="forget it after this many seconds")
        ] = None,
    ) -> Json:
        return await _guard(backend.add(scope_of(ctx), checked_text(text), kind, ttl_seconds))

    @server.tool(description="The user's memories most relevant to a query, best first.")
    async def search_memories(
        ctx: Context,
        query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)],
        k: Annotated[int, Field(ge=1, le=50, description="most results")] = 10,
    ) -> Json:
        return {"object": "list", "data": await _guard(backend.search(scope_of(ctx), query, k))}

    @server.tool(description="The user's memories, oldest first, a page at a time.")
    async def list_memories(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
    ) -> Json:
        return await _guard(backend.page(scope_of(ctx), limit, cursor))

    @server.tool(description="The user's standing preferences and constraints.")
    async def get_profile(ctx: Context) -> Json:
        return await _guard(backend.profile(scope_of(ctx)))

    @server.tool(description="Change the text of one of the user's memories.")
    async def update_memory(ctx: Context, memory_id: str, text: str) -> Json:
        scope = scope_of(ctx)
        new_text = checked_text(text)
        await _owned(backend, scope, memory_id)
        return await _guard(backend.update(memory_id, new_text))

    @server.tool(description="Forget one of the user's memories.")
    async def delete_memory(ctx: Context, memory_id: str) -> Json:
        await _owned(backend, scope_of(ctx), memory_id)
        return await _guard(backend.delete(memory_id))

    return server
