"""The Responses API's wire format for the fake upstream: a Response object, and the event stream a
real server sends for one text answer (every event the SDKs' stream helpers expect, in order,
each with its `sequence_number`; checked against openai's types and @ai-sdk/openai's schemas)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["response_events", "response_object"]


def _usage(body: dict[str, Any], text: str) -> dict[str, Any]:
    prompt = (len(json.dumps(body.get("input", ""))) + len(body.get("instructions") or "")) // 4
    output = max(1, len(text) // 4)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + output,
    }


def _message(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [] if status == "in_progress" else [_part(text)],
    }


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def response_object(
    body: dict[str, Any], text: str, response_id: str, *, status: str = "completed"
) -> dict[str, Any]:
    """The Response a real server returns (it echoes the request's settings, `instructions`
    included)."""
    done = status == "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model", "gpt-fake"),
        "output": [_message(f"msg_{response_id}", text, "completed")] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _usage(body, text) if done else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def response_events(
    body: dict[str, Any], text: str, response_id: str, chunks: int, *, cut: bool = False
) -> Iterator[bytes]:
    """The stream for one text answer; `cut`: it stops before `response.completed`."""
    item_id = f"msg_{response_id}"
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    size = max(1, -(-len(text) // chunks))
    pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    events: list[dict[str, Any]] = [
        {
            "type": "response.created",
            "response": response_object(body, text, response_id, status="in_progress"),
        },
        {
            "type": "response.in_progress",
            "response": response_object(body, text, response_id, status="in_progress"),
        },
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _message(item_id, "", "in_progress"),
        },
        {"type": "response.content_part.added", **where, "part": _part("")},
        *(
            {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            for piece in pieces
        ),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _part(text)},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": _message(item_id, text, "completed"),
        },
        {"type": "response.completed", "response": response_object(body, text, response_id)},
    ]
    if cut:
        events = events[:-1]
    for sequence, event in enumerate(events):
        payload = {**event, "sequence_number": sequence}
        yield f"event: {event['type']}\ndata: {json.dumps(payload)}\n\n".encode()
