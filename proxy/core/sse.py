"""Reassemble the assistant's answer from an OpenAI SSE stream as it passes through (pure)."""

from __future__ import annotations

import json
from typing import Any


class AnswerAssembler:
    """Feed raw stream bytes in any chunking; `text` is the content of choice 0 so far."""

    def __init__(self) -> None:
        self._buffer = b""
        self._parts: list[str] = []
        self.done = False  # saw `data: [DONE]`
        self.error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, chunk: bytes) -> None:
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        while b"\n\n" in self._buffer:
            event, self._buffer = self._buffer.split(b"\n\n", 1)
            self._event(event)

    def _event(self, event: bytes) -> None:
        data = b"\n".join(
            line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
        )
        if not data:
            return  # comments (": keep-alive") and named fields without data
        if data.strip() == b"[DONE]":
            self.done = True
            return
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if not isinstance(payload, dict):
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
