"""Anthropic's Messages API (`POST /v1/messages`) as memory sees it (pure): which calls go to the
Anthropic upstream, the query and the new turn, where the memory blocks go, and the answer of a
message or of its event stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from proxy.core.errors import InvalidRequest
from proxy.core.sse import SseEvents, json_object

__all__ = [
    "MessagesAnswer",
    "answer_of",
    "conversation_view",
    "is_anthropic_call",
    "new_user_turn",
    "place_blocks",
    "query_text",
    "stream_error_event",
    "validate_request",
]

QUERY_CHARS = 2000


def is_anthropic_call(path: str, headers: Mapping[str, str]) -> bool:
    """Messages and everything under it (count_tokens, batches) go to the Anthropic upstream, and
    so does any other /v1 call an Anthropic SDK makes: they all send `anthropic-version`."""
    return (
        path == "/v1/messages" or path.startswith("/v1/messages/") or "anthropic-version" in headers
    )


def validate_request(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`messages` must be a non-empty list of objects with a string `role`; `system`, when
    given, a string or a list of blocks. Returns the messages."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages.{index}: must be an object with a string 'role'",
                param=f"messages.{index}",
            )
    system = body.get("system")
    blocks = isinstance(system, list) and all(isinstance(b, dict) for b in system)
    if system is not None and not isinstance(system, str) and not blocks:
        raise InvalidRequest("system: must be a string or an array of text blocks", param="system")
    return messages


def text_of(content: Any) -> str:
    """The text blocks of a message's content (tool results, images and documents left out)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
    return ""


def query_text(messages: list[dict[str, Any]]) -> str:
    """The last user message that has text: in a tool loop the last user message carries only
    tool results, and what the user asked is the one before."""
    for message in reversed(messages):
        if message.get("role") == "user":
            text = text_of(message.get("content"))[: QUERY_CHARS * 2].strip()[:QUERY_CHARS]
            if text:
                return text
    return ""


def new_user_turn(messages: list[dict[str, Any]]) -> str:
    """The last message, if it is the user's (its text; a tool result is not a user turn)."""
    if messages[-1].get("role") == "user":
        return text_of(messages[-1].get("content")).strip()
    return ""


def conversation_view(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as recall reads a conversation: a user message that carries only tool
    results becomes a "tool" message, as chat has them, so the user's turn is the last message
    with their own words (one entry per message: indices stay those of `messages`)."""
    return [
        {**message, "role": "tool"}
        if message.get("role") == "user" and _only_tool_results(message.get("content"))
        else message
        for message in messages
    ]


def place_blocks(
    body: dict[str, Any],
    messages: list[dict[str, Any]],
    system_block: str | None,
    turn_blocks: Mapping[int, str],
) -> dict[str, Any]:
    """The body with `system_block` joined to `system`, and each of `turn_blocks` (message
    index -> block) as a text block at the start of that user message, after its tool results
    (which must come first).

    `system` as blocks gets a block of its own at the end, after the client's last
    `cache_control` breakpoint: the blocks it caches are not changed, so their cached prefix
    stays valid. A string `system` (which cannot carry a breakpoint) gets the block appended."""
    placed = dict(body)
    if turn_blocks:
        updated = list(messages)
        for index, block in turn_blocks.items():
            if 0 <= index < len(updated):
                updated[index] = _with_text_first(updated[index], block)
        placed["messages"] = updated
    if system_block:
        placed["system"] = _joined_system(body.get("system"), system_block)
    return placed


def answer_of(message: Any) -> str:
    """The text blocks of a non-streamed Message."""
    if not isinstance(message, dict):
        return ""
    return text_of(message.get("content"))


class MessagesAnswer:
    """Feed raw Messages stream bytes in any chunking: the answer from the `text_delta`s."""

    def __init__(self) -> None:
        self._events = SseEvents()
        self._parts: list[str] = []
        self.done = False  # saw message_stop
        self.error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, chunk: bytes) -> None:
        for name, data in self._events.feed(chunk):
            if name == "message_stop":
                self.done = True
                continue
            if name is not None and name not in ("content_block_delta", "error"):
                continue  # only deltas and errors are parsed: the answer, and the end
            payload = json_object(data)
            if payload is None:
                continue
            kind = payload.get("type") or name
            if kind == "content_block_delta":
                delta = payload.get("delta")
                if isinstance(delta, dict) and delta.get("type") == "text_delta":
                    text = delta.get("text")
                    if isinstance(text, str):
                        self._parts.append(text)
            elif kind == "message_stop":
                self.done = True
            elif kind == "error":
                self.error = payload

    def error_event(self, message: str, code: str) -> bytes:
        return stream_error_event(message)


def stream_error_event(message: str, type_: str = "api_error") -> bytes:
    """Anthropic's `error` event, for a stream that broke off after the 200 (the SDK raises)."""
    payload = {"type": "error", "error": {"type": type_, "message": message}}
    return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"


def _only_tool_results(content: Any) -> bool:
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def _with_text_first(message: dict[str, Any], text: str) -> dict[str, Any]:
    block = {"type": "text", "text": text}
    content = message.get("content")
    if isinstance(content, str):
        blocks = [block, {"type": "text", "text": content}]
    elif isinstance(content, list):
        lead = 0
        while (
            lead < len(content)
            and isinstance(content[lead], dict)
            and content[lead].get("type") == "tool_result"
        ):
            lead += 1
        blocks = [*content[:lead], block, *content[lead:]]
    else:
        blocks = [block]
    return {**message, "content": blocks}


def _joined_system(system: Any, block: str) -> str | list[Any]:
    if isinstance(system, list):
        return [*system, {"type": "text", "text": block}]
    if isinstance(system, str) and system:
        return f"{system}\n\n{block}"
    return block
