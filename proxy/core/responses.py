"""The Responses API (`POST /v1/responses`) as memory sees it (pure): the query and the new turn
of a request, where the memory blocks go, and the answer of a response or of its event stream.

Only message items are read or touched; function calls and their outputs, reasoning, files and
any item type added later pass as they came.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.core.errors import InvalidRequest
from proxy.core.sse import SseEvents, json_object

__all__ = [
    "ResponsesAnswer",
    "ResponsesTurn",
    "answer_of",
    "conversation_of",
    "has_user_message",
    "place_blocks",
    "read_turn",
    "stream_error_event",
]

QUERY_CHARS = 2000  # long pastes add noise to the search, as for chat
TEXT_PARTS = ("input_text", "text")
# The events after which a stream is over, as the API ends it (no [DONE] on this API).
TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")
READ_EVENTS = frozenset({"response.output_text.delta", "error", *TERMINAL_EVENTS})


@dataclass(frozen=True)
class ResponsesTurn:
    query: str  # what to search memory with
    new_turn: str  # what the user said in this call (to remember)


def read_turn(body: dict[str, Any]) -> ResponsesTurn:
    """Check the fields memory reads (`input`, `instructions`) and read the turn from them.

    With `previous_response_id` or a `conversation` the server holds the history, so every user
    message of this request's input is new; without, a client resends its history as input items
    and only the last item, if it is the user's, is new (as for chat)."""
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequest("'instructions' must be a string", param="instructions")
    items = _input_items(body.get("input"))
    if isinstance(items, str):
        return ResponsesTurn(query=_capped(items), new_turn=items.strip())
    users = [item for item in items if _is_user_message(item)]
    query = _capped(_text_of(users[-1].get("content"))) if users else ""
    if body.get("previous_response_id") or body.get("conversation"):
        new_turn = "\n".join(t for t in (_text_of(u.get("content")).strip() for u in users) if t)
    elif items and _is_user_message(items[-1]):
        new_turn = _text_of(items[-1].get("content")).strip()
    else:
        new_turn = ""  # the call ends with a tool result or an assistant item: no user turn
    return ResponsesTurn(query=query, new_turn=new_turn)


def conversation_of(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The conversation the client resent, for the cache-aware placement: the input items (a
    string input is one user message); None when the server holds the history
    (`previous_response_id`, `conversation`) or there is no input."""
    if body.get("previous_response_id") or body.get("conversation"):
        return None
    items = _input_items(body.get("input"))
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    return items or None


def has_user_message(body: dict[str, Any]) -> bool:
    items = _input_items(body.get("input"))
    return isinstance(items, str) or any(_is_user_message(item) for item in items)


def place_blocks(
    body: dict[str, Any],
    system_block: str | None,
    turn_blocks: Mapping[int, str],
    turn_block: str | None = None,
) -> dict[str, Any]:
    """The body with `system_block` appended to `instructions` (created when absent), and each
    of `turn_blocks` (input item index -> block; a string input is item 0) as an `input_text`
    part at the start of that user message. `turn_block`, without an index (the server holds
    the history), goes to the last user message of the input. A string input with a block
    becomes one user message holding both parts."""
    placed = dict(body)
    value = body.get("input")
    items: list[Any] | None = (
        [{"type": "message", "role": "user", "content": value}]
        if isinstance(value, str)
        else value
        if isinstance(value, list)
        else None
    )
    blocks = dict(turn_blocks)
    if turn_block and items is not None:
        last = _last_user(items)
        if last is not None:
            blocks[last] = turn_block
    if blocks and items is not None:
        updated = list(items)
        for index, block in blocks.items():
            if 0 <= index < len(updated) and isinstance(updated[index], dict):
                updated[index] = _with_text_first(updated[index], block)
        placed["input"] = updated
    if system_block:
        current = body.get("instructions")
        placed["instructions"] = (
            f"{current}\n\n{system_block}" if isinstance(current, str) and current else system_block
        )
    return placed


def answer_of(response: Any) -> str:
    """The assistant's text in a Response object: its message items' `output_text` parts."""
    if not isinstance(response, dict) or not isinstance(response.get("output"), list):
        return ""
    texts = []
    for item in response["output"]:
        if isinstance(item, dict) and item.get("type") == "message":
            parts = item.get("content")
            if isinstance(parts, list):
                texts.append(
                    "".join(
                        part["text"]
                        for part in parts
                        if isinstance(part, dict)
                        and part.get("type") == "output_text"
                        and isinstance(part.get("text"), str)
                    )
                )
    return "\n".join(text for text in texts if text)


class ResponsesAnswer:
    """Feed raw Responses stream bytes in any chunking: the answer from the
    `response.output_text.delta` events, or from `response.completed` once it came.

    Only the events that carry the answer or end the stream are parsed: the others (created,
    in_progress, the added/done events) carry whole response and item objects and are most of the
    bytes. The last event is kept as it came, for the sequence number of a cut stream's error."""

    def __init__(self) -> None:
        self._events = SseEvents()
        self._deltas: list[str] = []
        self._final: str | None = None
        self._last_data = b""
        self.done = False
        self.error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return self._final if self._final else "".join(self._deltas)

    def feed(self, chunk: bytes) -> None:
        for name, data in self._events.feed(chunk):
            if data:
                self._last_data = data
            if name is not None and name not in READ_EVENTS:
                continue
            payload = json_object(data)
            if payload is not None:
                self._event(payload.get("type") or name, payload)

    def error_event(self, message: str, code: str) -> bytes:
        last = json_object(self._last_data) or {}
        sequence = last.get("sequence_number")
        return stream_error_event(message, code, sequence + 1 if isinstance(sequence, int) else 0)

    def _event(self, kind: Any, payload: dict[str, Any]) -> None:
        if kind == "response.output_text.delta":
            delta = payload.get("delta")
            if isinstance(delta, str):
                self._deltas.append(delta)
        elif kind in TERMINAL_EVENTS:
            self.done = True
            self._final = answer_of(payload.get("response"))
        elif kind == "error":
            self.error = payload


def stream_error_event(message: str, code: str, sequence_number: int) -> bytes:
    """The API's `error` event, for a stream that broke off after the 200. It also carries an
    `error` object: that is what makes the openai SDKs (Python and JS) raise on it."""
    payload = {
        "type": "error",
        "code": code,
        "message": message,
        "param": None,
        "sequence_number": sequence_number,
        "error": {"type": "upstream_error", "code": code, "message": message, "param": None},
    }
    return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"


def _input_items(value: Any) -> str | list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise InvalidRequest("'input' must be a string or an array of input items", param="input")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(f"input[{index}] must be an object", param=f"input[{index}]")
    return value


def _is_user_message(item: dict[str, Any]) -> bool:
    return item.get("role") == "user" and item.get("type") in (None, "message")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") in TEXT_PARTS
            and isinstance(part.get("text"), str)
        )
    return ""


def _capped(text: str) -> str:
    # The cap comes before the strip, so a huge paste costs nothing on the request path.
    return text[: QUERY_CHARS * 2].strip()[:QUERY_CHARS]


def _last_user(items: list[Any]) -> int | None:
    for index in range(len(items) - 1, -1, -1):
        if isinstance(items[index], dict) and _is_user_message(items[index]):
            return index
    return None


def _with_text_first(item: dict[str, Any], block: str) -> dict[str, Any]:
    part = {"type": "input_text", "text": block}
    content = item.get("content")
    if isinstance(content, str):
        parts = [part, {"type": "input_text", "text": content}]
    elif isinstance(content, list):
        parts = [part, *content]
    else:
        parts = [part]
    return {**item, "content": parts}
