"""The request being served, in a context variable: its id goes on every log line and into the
X-Memory-Request-Id header, and the injection log takes its route and model from it. asyncio
tasks and `asyncio.to_thread` carry a context variable along, so work done for a request in a
worker thread logs the same id."""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RequestContext",
    "begin",
    "current",
    "end",
    "new_request_id",
    "note_model",
    "request_id",
]

# Bounded: a label or log field must never grow with what a client sends.
MAX_MODEL_CHARS = 200


@dataclass(slots=True)
class RequestContext:
    request_id: str
    method: str
    path: str
    asgi_scope: MutableMapping[str, Any]  # the router adds the matched route to it
    model: str | None = None  # from the body, when a memory route parsed one
    memory_status: str | None = None  # set once memory was consulted for this call

    @property
    def route(self) -> str:
        """The matched route's template (`/memories/{memory_id}`), never the raw path: ids in
        paths must not become label values. `unmatched` before or without a match."""
        route = self.asgi_scope.get("route")
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else "unmatched"


_current: ContextVar[RequestContext | None] = ContextVar("memory_proxy_request", default=None)


def new_request_id() -> str:
    return secrets.token_hex(12)


def begin(
    asgi_scope: MutableMapping[str, Any],
) -> tuple[RequestContext, Token[RequestContext | None]]:
    context = RequestContext(
        request_id=new_request_id(),
        method=asgi_scope.get("method", ""),
        path=asgi_scope.get("path", ""),
        asgi_scope=asgi_scope,
    )
    return context, _current.set(context)


def end(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def request_id() -> str:
    """This request's id, or '-' outside of one (start-up, the background writer)."""
    context = _current.get()
    return context.request_id if context is not None else "-"


def note_model(model: object) -> None:
    """Remember the model the client asked for (for the injection log)."""
    context = _current.get()
    if context is not None and isinstance(model, str):
        context.model = model[:MAX_MODEL_CHARS]
