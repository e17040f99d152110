"""The user indexes held in process: loaded on first use, least recently used evicted, reloaded
in the background when several replicas share the store."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from proxy.memory.recall.index import UserIndex

__all__ = ["IndexCache"]

log = logging.getLogger(__name__)


class IndexCache:
    """Loaded user indexes, least recently used evicted past `max_memories` rows in total.

    With `max_age_s` (a store shared by several proxy replicas), an index older than that is
    reloaded in the background while the current one keeps serving: another replica's writes
    show up within about `max_age_s`, and no request waits for the reload."""

    def __init__(
        self,
        load: Callable[[str], UserIndex],
        max_memories: int = 2_000_000,
        max_age_s: float | None = None,
    ) -> None:
        self._load = load
        self._max = max_memories
        self._max_age = max_age_s
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()
        self._loaded_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self._held: dict[str, int] = {}  # users with changes not yet in the store
        self._refresher: ThreadPoolExecutor | None = None

    def get(self, user_id: str) -> UserIndex:
        with self._lock:
            index = self._indexes.get(user_id)
            if index is not None:
                self._indexes.move_to_end(user_id)
                self._refresh_if_old(user_id, index)
                return index
            loading = self._loading.setdefault(user_id, threading.Lock())
        with loading:  # one load per user even when several requests arrive at once
            with self._lock:
                index = self._indexes.get(user_id)
            if index is None:
                started = time.monotonic()
                index = self._load(user_id)
                with self._lock:
                    self._indexes[user_id] = index
                    self._loaded_at[user_id] = started
                    self._loading.pop(user_id, None)
                    self._evict()
        return index

    def peek(self, user_id: str) -> UserIndex | None:
        with self._lock:
            return self._indexes.get(user_id)

    def drop(self, user_id: str) -> None:
        with self._lock:
            self._indexes.pop(user_id, None)
            self._loaded_at.pop(user_id, None)

    def hold(self, user_id: str) -> None:
        """Keep this user's index as it is (no eviction, no background reload) until
        `release`: it holds changes the store does not have yet."""
        with self._lock:
            self._held[user_id] = self._held.get(user_id, 0) + 1

    def release(self, user_id: str) -> None:
        with self._lock:
            left = self._held.get(user_id, 0) - 1
            if left > 0:
                self._held[user_id] = left
            else:
                self._held.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._loaded_at.clear()

    def stats(self) -> dict[str, int]:
        with self._lock:
            indexes = list(self._indexes.values())
        return {
            "users": len(indexes),
            "memories": sum(len(index) for index in indexes),
            "max_memories": self._max,
        }

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.shutdown(wait=False, cancel_futures=True)

    def _refresh_if_old(self, user_id: str, index: UserIndex) -> None:
        """Hold the lock."""
        if self._max_age is None or user_id in self._refreshing or user_id in self._held:
            return
        if time.monotonic() - self._loaded_at.get(user_id, 0.0) < self._max_age:
            return
        if self._refresher is None:
            self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="index-reload")
        self._refreshing.add(user_id)
        self._refresher.submit(self._refresh, user_id, index, index.version)

    def _refresh(self, user_id: str, stale: UserIndex, version: int) -> None:
        started = time.monotonic()
        try:
            fresh = self._load(user_id)
        except Exception:
            log.warning("reloading the memories of a user failed; serving the cached ones")
            fresh = None
        with self._lock:
            self._refreshing.discard(user_id)
            if self._indexes.get(user_id) is not stale or user_id in self._held:
                return  # dropped or replaced meanwhile, or holding unstored changes
            if fresh is None:
                self._loaded_at[user_id] = started  # back off for max_age before trying again
            elif stale.version == version:
                self._indexes[user_id] = fresh
                self._loaded_at[user_id] = started
                self._evict()
            # else: this process changed the index during the reload, which may have missed
            # that change; keep the cached one and reload on a later request.

    def _evict(self) -> None:
        total = sum(len(index) for index in self._indexes.values())
        if total <= self._max:
            return
        for user_id in list(self._indexes):  # least recently used first
            if total <= self._max or len(self._indexes) <= 1:
                break
            if user_id in self._held:
                continue
            evicted = self._indexes.pop(user_id)
            self._loaded_at.pop(user_id, None)
            total -= len(evicted)
