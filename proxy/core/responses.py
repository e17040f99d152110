"""The Responses API (`POST /v1/responses`) as memory sees it (pure): the query and the new turn
of a request, where the memory blocks go, and the answer of a response or of its event stream.

Only message items are read or touched; function calls and their outputs, reasoning, files and
any item type added later pass as they came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from proxy.core.errors import InvalidRequest
from proxy.core.sse import SseEvents, json_object

__all__ = [
    "ResponsesAnswer",
    "ResponsesTurn",
    "answer_of",
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


def place_blocks(
    body: dict[str, Any], system_block: str | None, turn_block: str | None
) -> dict[str, Any]:
    """The body with `system_block` appended to `instructions` (created when absent) and
    `turn_block` as an `input_text` part at the start of the last user message item (a string
    input becomes one user message holding both parts). With no user message in the input (a
    tool result sent after `previous_response_id`), the turn block joins the instructions."""
    placed = dict(body)
    extra_instructions = [block for block in (system_block,) if block]
    if turn_block:
        placed_input = _with_turn_block(body.get("input"), turn_block)
        if placed_input is None:
            extra_instructions.append(turn_block)
        else:
            placed["input"] = placed_input
    if extra_instructions:
        current = body.get("instructions")
        if isinstance(current, str) and current:
            extra_instructions.insert(0, current)
        placed["instructions"] = "\n\n".join(extra_instructions)
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


def _with_turn_block(value: Any, block: str) -> list[Any] | None:
    part = {"type": "input_text", "text": block}
    if isinstance(value, str):
        return [
            {
                "type": "message",
                "role": "user",
                "content": [part, {"type": "input_text", "text": value}],
            }
        ]
    if not isinstance(value, list):
        return None
    for index in range(len(value) - 1, -1, -1):
        item = value[index]
        if isinstance(item, dict) and _is_user_message(item):
            content = item.get("content")
            if isinstance(content, str):
                parts = [part, {"type": "input_text", "text": content}]
            elif isinstance(content, list):
                parts = [part, *content]
            else:
                parts = [part]
            return [*value[:index], {**item, "content": parts}, *value[index + 1 :]]
    return None
