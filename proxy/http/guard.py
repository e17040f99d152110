"""One ASGI middleware in front of every route: admission (media type, origin, Host; see
proxy/core/admission.py), a cap on the request bytes held at once, and a 500 that keeps the
connection open.

Pure ASGI on purpose: it looks at headers only and passes the body through as it arrives (no
re-read, no buffering), so chat keeps its latency.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.core.admission import (
    ANTHROPIC_ROUTES,
    IMPORT_ROUTE,
    RouteKind,
    admit,
    route_kind,
)
from proxy.core.errors import ServerBusy, anthropic_error_body, error_body
from proxy.http.auth import is_loopback
from proxy.settings import Settings

__all__ = ["BytesInFlight", "RequestGuard"]

log = logging.getLogger(__name__)

RETRY_AFTER_S = "1"


class BytesInFlight:
    """Request body bytes the proxy holds at once, across requests (one event loop: no lock)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.cap:
            raise ServerBusy(
                f"the proxy is holding {self.held} bytes of request bodies (at most {self.cap});"
                " retry shortly",
                headers={"retry-after": RETRY_AFTER_S},
            )
        self.held += size

    def give_back(self, size: int) -> None:
        self.held -= size


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.admin_key_set = settings.admin_key is not None
        self.allowed_origins = frozenset(
            o.strip().lower().rstrip("/") for o in settings.auth.allowed_origins
        )
        self.allowed_hosts = frozenset(h.strip().lower() for h in settings.auth.allowed_hosts)
        self.in_flight = BytesInFlight(settings.max_bytes_in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = _headers(scope)
        refusal = admit(
            scope["method"],
            path,
            headers,
            scheme=scope.get("scheme", "http"),
            admin_key_set=self.admin_key_set,
            peer_is_loopback=is_loopback(scope["client"][0] if scope.get("client") else None),
            allowed_origins=self.allowed_origins,
            allowed_hosts=self.allowed_hosts,
        )
        if refusal is not None:
            await _send_error(
                send, path, refusal.status, refusal.message, refusal.type, refusal.code
            )
            return
        held = _Held(self.in_flight)
        # Bodies the proxy holds whole are counted; pass-through and import stream through.
        counted = route_kind(path) is not RouteKind.OTHER and path != IMPORT_ROUTE
        declared = headers.get("content-length", "").strip()
        if counted and declared.isdigit():
            try:
                held.take(int(declared))  # reserved up front: refused before a byte is read
            except ServerBusy as exc:
                await _send_error(send, path, exc.status, exc.message, exc.type, exc.code, exc)
                return
        count_chunks = counted and not declared.isdigit()
        started = False

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                held.take(len(message.get("body", b"")))  # a chunked body, as it arrives
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                held.release()  # the route has read and sent on the body by now
            await send(message)

        try:
            await self.app(scope, counting_receive if count_chunks else receive, watching_send)
        except ClientDisconnect:
            pass  # the client went (or was cut off by a read timeout): nobody to answer
        except Exception:
            if started:
                raise  # a body cut short: the server closes the connection, as it must
            # Answered here, not by the server: a 500 it sends itself closes the connection,
            # and a keep-alive client's next request would fail.
            log.exception("unexpected error on %s %s", scope["method"], path)
            await _send_error(
                send, path, 500, "internal error in memory-proxy", "server_error", "internal_error"
            )
        finally:
            held.release()


class _Held:
    """What one request holds of the budget: its declared length, or its chunks as they come."""

    def __init__(self, budget: BytesInFlight) -> None:
        self._budget = budget
        self.size = 0

    def take(self, size: int) -> None:
        if size:
            self._budget.take(size)
            self.size += size

    def release(self) -> None:
        self._budget.give_back(self.size)
        self.size = 0


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


async def _send_error(
    send: Send,
    path: str,
    status: int,
    message: str,
    type_: str,
    code: str | None,
    exc: ServerBusy | None = None,
) -> None:
    payload: dict[str, Any]
    if path in ANTHROPIC_ROUTES:
        payload = anthropic_error_body(message, status)
    else:
        payload = error_body(message, type_, code=code)
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    for name, value in (exc.headers if exc else {}).items():
        headers.append((name.encode(), value.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
