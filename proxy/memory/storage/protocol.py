"""What the memory service needs from durable storage: the seam between the write policy and
chromadb (proxy/memory/storage/chroma.py implements it; tests use the real one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import numpy as np

from proxy.core.records import Memory

__all__ = ["Store"]


class Store(Protocol):
    """Memories with their primary vectors, always addressed through their user. Blocking."""

    # Called when the store was reopened under us: what was read from it before is suspect.
    on_reconnect: Callable[[], None] | None

    def upsert(
        self,
        memories: Sequence[Memory],
        vectors: np.ndarray,
        multilingual: Mapping[str, np.ndarray | None] | None = None,
        dropped: Mapping[str, Iterable[str]] | None = None,
    ) -> None: ...

    def load_user(self, user_id: str) -> tuple[list[Memory], np.ndarray]: ...

    def load_user_spaces(
        self, user_id: str
    ) -> tuple[list[Memory], np.ndarray, dict[str, np.ndarray]]: ...

    def get(self, ids: Sequence[str]) -> list[Memory]: ...

    def delete(self, user_id: str, ids: Sequence[str]) -> None: ...

    def expired_ids(self, now: datetime, limit: int = 1000) -> list[tuple[str, str]]: ...

    def scan(self, batch: int = 1000) -> Iterator[list[Memory]]: ...

    def warm_shards(self) -> int: ...

    def count(self) -> int: ...

    def compact(self, erased_ids: Sequence[str]) -> bool: ...

    def present(self) -> bool: ...
