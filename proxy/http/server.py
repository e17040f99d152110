"""uvicorn's HTTP protocol with the limits it lacks: a time for a request's headers to arrive, a
time between pieces of its body, and a size for its headers.

uvicorn has no read timeout: 300 connections that sent half a header each were held open for as
long as they liked (slowloris), and a body that stops half way held its request (and its upstream
connection, for a pass-through) for ever. A connection that misses a limit is answered 408 (or
431) when no response has started, and closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEADER_BYTES", "limited_protocol"]

MAX_HEADER_BYTES = 64 * 1024  # request line and headers together
LINGER_S = 2.0  # how long a refused connection's remaining bytes are read and dropped


def _status(code: int, reason: str) -> bytes:
    body = f'{{"error": {{"message": "{reason}", "type": "invalid_request_error"}}}}'.encode()
    return (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = True  # between requests, or before a request's headers are complete
        self._refused = False

    # --- timers ------------------------------------------------------------------------------

    def _arm(self, seconds: float, reply: bytes | None) -> None:
        self._disarm()
        self._limit = self.loop.call_later(seconds, self._expired, reply)

    def _disarm(self) -> None:
        if self._limit is not None:
            self._limit.cancel()
            self._limit = None

    def _expired(self, reply: bytes | None) -> None:
        self._limit = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            # The app is not reading (its own pace, not the client's): wait on.
            self._arm(self.body_timeout_s, reply)
            return
        if reply is not None and (self.cycle is None or not self.cycle.response_started):
            self.transport.write(reply)
        self.transport.close()

    # --- uvicorn's protocol callbacks --------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, _status(408, "Request Timeout"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what the client still sends after the refusal is read and dropped
        if self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(_status(431, "Request Header Fields Too Large"))
                return
        super().data_received(data)

    def _refuse(self, reply: bytes) -> None:
        """Answer and close gracefully: closing at once with the client's bytes unread would
        send a reset, which can destroy the answer before the client reads it. So the write
        side is closed after the answer, and what still comes in is read and dropped for a
        moment (a lingering close, as nginx does)."""
        self._disarm()
        self._refused = True
        self.transport.write(reply)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # No reset of the byte count here: the parser calls this from within the chunk that
        # was just counted, and zeroing it then let a header arriving in two pieces through.
        self._in_headers = True
        self._arm(self.header_timeout_s, _status(408, "Request Timeout"))

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()
        if self.parser is not None and self.cycle is not None and self.cycle.more_body:
            self._arm(self.body_timeout_s, _status(408, "Request Timeout"))

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_timeout_s, _status(408, "Request Timeout"))

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers = True  # what comes next on this connection is a new request
        self._header_bytes = 0
        super().on_message_complete()


def limited_protocol(header_timeout_s: float, body_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`), with these limits."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
