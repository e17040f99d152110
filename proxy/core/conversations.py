"""What was injected into recent conversations, so that each next request of a conversation
carries the same blocks at the same places (in process, pure).

Clients resend the whole conversation every turn, so a conversation's request is a prefix of its
next one, and providers bill a cached prompt prefix at a fraction of the price. A memory block
that changes between turns would end that prefix where it sits. So the blocks of a conversation
are kept: the next request gets the same profile block in its system message and the same turn
blocks on the same user messages, byte for byte, and only the new user message gets a block of
its own, holding what was not injected earlier in the conversation. What reaches the model is a
superset of what a fresh selection would give, and the conversation stays append-only.

A conversation is recognised by a chain of hashes over its messages (and the memory scope: two
users sending the same messages never share an entry). A client that edits its history, or a
request served by another replica, simply starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from proxy.core.scope import Scope

__all__ = ["ConversationBlocks", "Injected", "fingerprints"]


@dataclass(frozen=True)
class Injected:
    """The blocks a conversation has carried so far."""

    system_block: str | None = None
    turn_blocks: Mapping[int, str] = field(default_factory=dict)  # message index -> block
    memory_ids: frozenset[str] = frozenset()  # every memory in those blocks


def fingerprints(scope: Scope, messages: Sequence[Any]) -> list[bytes]:
    """fingerprints[i] names the conversation made of messages[: i + 1] (for this scope)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([scope.user_id, scope.session_id, scope.agent_id]).encode())
    out: list[bytes] = []
    for message in messages:
        digest.update(_canonical(message))
        out.append(digest.copy().digest())
    return out


def _canonical(message: Any) -> bytes:
    text = json.dumps(message, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass") + b"\x1e"


class ConversationBlocks:
    """A bounded map from a conversation prefix to what was injected into it, least recently
    used evicted. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[bytes, Injected] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, keys: Sequence[bytes]) -> tuple[int, Injected | None]:
        """(length of the longest known prefix, what it carried); (0, None) if none is known."""
        if self._capacity == 0:
            return 0, None
        with self._lock:
            for length in range(len(keys), 0, -1):
                found = self._entries.get(keys[length - 1])
                if found is not None:
                    self._entries.move_to_end(keys[length - 1])
                    return length, found
        return 0, None

    def save(self, key: bytes, injected: Injected) -> None:
        if self._capacity == 0:
            return
        with self._lock:
            self._entries[key] = injected
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
