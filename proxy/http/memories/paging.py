"""Cursor pagination over a list of memories sorted by (created_at, id) (pure).

The cursor names the last memory of a page, so pages stay correct while memories are added or
deleted between requests: nothing is skipped or shown twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from proxy.core.errors import InvalidRequest
from proxy.core.records import Memory

__all__ = ["Page", "decode_cursor", "encode_cursor", "paginate"]


@dataclass(frozen=True)
class Page:
    items: list[Memory]
    next_cursor: str | None  # None: this was the last page


def _key(memory: Memory) -> tuple[datetime, str]:
    return (memory.created_at, memory.id)


def encode_cursor(memory: Memory) -> str:
    raw = json.dumps([memory.created_at.isoformat(), memory.id], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, memory_id = json.loads(raw)
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None or not isinstance(memory_id, str):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "cursor is not one this server handed out", param="cursor", code="invalid_cursor"
        ) from None
    return when, memory_id


def paginate(memories: Sequence[Memory], cursor: str | None, limit: int) -> Page:
    """The `limit` memories after `cursor`; `memories` must be sorted by (created_at, id)."""
    start = 0 if cursor is None else bisect_right(memories, decode_cursor(cursor), key=_key)
    items = list(memories[start : start + limit])
    more = start + limit < len(memories)
    return Page(items, encode_cursor(items[-1]) if more and items else None)
