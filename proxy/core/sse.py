"""Server-sent events as they pass through (pure): the event splitter every API's stream uses, the
answer assembler for OpenAI chat streams, and the error event for a chat stream cut short."""

from __future__ import annotations

import json
from typing import Any, Protocol

__all__ = [
    "AnswerAssembler",
    "SseEvents",
    "StreamAnswer",
    "answer_of",
    "json_object",
    "stream_error_event",
]

__all__ = ["AnswerAssembler", "answer_of", "stream_error_event"]


class StreamAnswer(Protocol):
    """What a route's tee needs from one API's stream: the answer so far, whether the stream
    ended as the API ends it, and the API's own error event for a stream that did not."""

    done: bool  # saw the API's end of stream ([DONE], response.completed, message_stop)
    error: Any  # the error event the upstream itself sent, if any

    @property
    def text(self) -> str: ...

    def feed(self, chunk: bytes) -> None: ...

    def error_event(self, message: str, code: str) -> bytes: ...


class SseEvents:
    """Split raw SSE bytes, in any chunking, into events: (event name or None, data)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events: list[tuple[str | None, bytes]] = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            name: str | None = None
            data: list[bytes] = []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    data.append(line[5:].lstrip())
                elif line.startswith(b"event:"):
                    name = line[6:].strip().decode("utf-8", errors="replace")
            if data or name:
                events.append((name, b"\n".join(data)))
        return events


def json_object(data: bytes) -> dict[str, Any] | None:
    """An event's data as a JSON object, or None (comments, [DONE], anything malformed)."""
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class AnswerAssembler:
    """Feed raw chat stream bytes in any chunking; `text` is the content of choice 0 so far."""

    def __init__(self) -> None:
        self._events = SseEvents()
        self._parts: list[str] = []
        self.done = False  # saw `data: [DONE]`
        self.error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, chunk: bytes) -> None:
        for _, data in self._events.feed(chunk):
            self._event(data)

    def error_event(self, message: str, code: str) -> bytes:
        return stream_error_event(message, code)

    def _event(self, data: bytes) -> None:
        if not data:
            return  # comments (": keep-alive") and named fields without data
        if data.strip() == b"[DONE]":
            self.done = True
            return
        payload = json_object(data)
        if payload is None:
            return
        if isinstance(payload.get("error"), dict):
            self.error = payload["error"]
        for choice in payload.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                delta = choice.get("delta") or {}
                content = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(content, str):
                    self._parts.append(content)


def answer_of(body: Any) -> str:
    """The content of choice 0 of a non-streamed chat completion."""
    if not isinstance(body, dict):
        return ""
    for choice in body.get("choices") or ():
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            message = choice.get("message") or {}
            content = message.get("content") if isinstance(message, dict) else None
            return content if isinstance(content, str) else ""
    return ""


def stream_error_event(message: str, code: str, type_: str = "upstream_error") -> bytes:
    """An error after the 200 was sent: the SDKs read it as an SSE `error` event."""
    payload: dict[str, Any] = {
        "error": {"message": message, "type": type_, "param": None, "code": code}
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"
