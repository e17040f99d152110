"""The first thing every HTTP request passes: it gets an id (the X-Memory-Request-Id response
header, and the request_id of every log line written while it is served), it is counted, and
it ends with one log line. A plain ASGI middleware: no task or buffering per request.

Inside it, RequestGuard (proxy/http/guard.py) answers an error no route handled with a 500 that
keeps the connection: its traceback's log line carries the request id, its response the header.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.observe.context import RequestContext, begin, end
from proxy.observe.metrics import Metrics

__all__ = ["REQUEST_ID_HEADER", "ObserveMiddleware"]

REQUEST_ID_HEADER = "x-memory-request-id"
MAX_LOGGED_PATH = 200

log = logging.getLogger("proxy.access")


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context, token = begin(scope)
        header = (REQUEST_ID_HEADER.encode(), context.request_id.encode())
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = context.route
            if self.metrics is not None:
                self.metrics.request_done(
                    route, context.method, status or 500, context.memory_status, seconds
                )
            if log.isEnabledFor(logging.INFO):
                _log_request(context, route, status, seconds)
            end(token)


def _shown(path: str) -> str:
    return path if len(path) <= MAX_LOGGED_PATH else f"{path[:MAX_LOGGED_PATH]}..."


def _log_request(context: RequestContext, route: str, status: int, seconds: float) -> None:
    """One line per request: never the query string (clients put keys there, e.g. `?key=`)."""
    shown = _shown(context.path)
    duration_ms = round(seconds * 1000, 1)
    log.info(
        "%s %s %s %.1f ms memory=%s",
        context.method,
        shown,
        status or "-",
        duration_ms,
        context.memory_status or "-",
        extra={
            "method": context.method,
            "path": shown,
            "route": route,
            "status": status or None,
            "memory": context.memory_status,
            "duration_ms": duration_ms,
        },
    )
