"""A raw TCP "upstream" that speaks just enough HTTP/1.1 to misbehave on purpose: reset the
connection, cut a stream, end it without [DONE], stall, or never answer.

It runs its own asyncio loop in a thread on 127.0.0.1:0. A behaviour is an async function given
the connection; what the server saw is recorded for the test to check."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request_head: bytes = b""
    body: bytes = b""

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def stream_head(self, *, chunked: bool = True) -> None:
        framing = b"transfer-encoding: chunked\r\n" if chunked else b"connection: close\r\n"
        await self.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" + framing + b"\r\n"
        )

    async def chunk(self, data: bytes) -> None:
        await self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def reset(self) -> None:
        """Close with a TCP reset (RST), not a clean FIN."""
        self.writer.transport.abort()

    async def peer_closed(self) -> None:
        """Returns when the other side closes the connection."""
        while await self.reader.read(65536):
            pass


Behaviour = Callable[[Connection], Awaitable[None]]


def sse(content: str) -> bytes:
    """One chat.completion.chunk event carrying `content`."""
    chunk = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "raw",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


@dataclass
class RawUpstream:
    behaviour: Behaviour
    bodies: list[bytes] = field(default_factory=list)
    closed_by_peer: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        connection = Connection(reader, writer)
        try:
            connection.request_head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in connection.request_head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            connection.body = await reader.readexactly(length)
            self.bodies.append(connection.body)
            await self.behaviour(connection)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def start(self) -> RawUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("raw upstream did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        with contextlib.suppress(RuntimeError):
            self._loop.close()

    def __enter__(self) -> RawUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def forever() -> None:
    """Wait until the server stops (it cancels every connection then)."""
    await asyncio.Event().wait()
