"""Anthropic's Messages wire format for the fake upstream: a Message, and the event stream a real
server sends for one text answer (message_start, content_block_start, ping, content_block_delta
text_deltas, content_block_stop, message_delta, message_stop; checked against the anthropic SDK's
types and its `messages.stream()` accumulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

__all__ = ["input_tokens", "message_events", "message_object"]


def input_tokens(body: dict[str, Any]) -> int:
    return max(
        1,
        (len(json.dumps(body.get("messages", []))) + len(json.dumps(body.get("system", "")))) // 4,
    )


def _usage(body: dict[str, Any], output: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens(body),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "service_tier": "standard",
    }


def message_object(
    body: dict[str, Any], text: str, message_id: str, *, started: bool = False
) -> dict[str, Any]:
    """The Message a real server returns; `started`: as in message_start (no content yet)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": [] if started else [{"type": "text", "text": text}],
        "stop_reason": None if started else "end_turn",
        "stop_sequence": None,
        "usage": _usage(body, 1 if started else max(1, len(text) // 4)),
    }


def message_events(
    body: dict[str, Any], text: str, message_id: str, chunks: int, *, cut: bool = False
) -> Iterator[bytes]:
    """The stream for one text answer; `cut`: it stops before message_delta and message_stop."""
    size = max(1, -(-len(text) // chunks))
    pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message_object(body, text, message_id, started=True)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
            for p in pieces
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": max(1, len(text) // 4)},
        },
        {"type": "message_stop"},
    ]
    if cut:
        events = events[:-3]
    for event in events:
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
