"""The injection log's writer: a call is recorded on the event loop with a list append, and a
background task stores what gathered in one batch every `flush_every_s`, in a worker thread.
Nothing of it waits on SQLite while a request is being answered.

The log is a record for operators, not user data: when the disk fails, entries are kept in
memory up to `max_pending` and the excess is dropped and counted, never blocking a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from proxy.core.errors import MemoryUnavailable
from proxy.memory.storage.injections import Injection, InjectionStore

__all__ = ["InjectionLog", "InjectionLogStats"]

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass
class InjectionLogStats:
    recorded: int = 0
    stored: int = 0
    dropped: int = 0  # recorded while `max_pending` entries already waited (disk trouble)
    write_failures: int = 0
    pruned: int = 0


class InjectionLog:
    def __init__(
        self,
        store: InjectionStore,
        *,
        days: float,
        max_rows: int,
        flush_every_s: float = 0.25,
        prune_every_s: float = 60.0,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._days = days
        self._max_rows = max_rows
        self._flush_every_s = flush_every_s
        self._prune_every_s = prune_every_s
        self._max_pending = max_pending
        self.clock = clock
        self._pending: list[Injection] = []
        self._rows = store.count()
        # One writer at a time: an erase never runs between a flush taking its batch and
        # storing it (the batch would bring the erased user's entries back).
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.stats = InjectionLogStats()

    # --- on the request path ---------------------------------------------------------------

    def record(self, entry: Injection) -> None:
        if len(self._pending) >= self._max_pending:
            self.stats.dropped += 1
            return
        self._pending.append(entry)
        self.stats.recorded += 1

    # --- background ------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="injection-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        self._store.close()

    async def _run(self) -> None:
        next_prune = 0.0  # at once: entries past their days may have waited for a restart
        while True:
            await asyncio.sleep(self._flush_every_s)
            try:
                await self.flush()
                if self.clock() >= next_prune:
                    await self.prune()
                    next_prune = self.clock() + self._prune_every_s
            except Exception:  # a bug here must not end the log for the life of the process
                log.exception("the injection log writer failed; it goes on")

    async def flush(self) -> None:
        """Store what was recorded so far."""
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await asyncio.to_thread(self._store.add, batch)
            except MemoryUnavailable as exc:
                self.stats.write_failures += 1
                kept = (batch + self._pending)[: self._max_pending]
                self.stats.dropped += len(batch) + len(self._pending) - len(kept)
                self._pending = kept
                log.warning("could not store %d injection log entries: %s", len(batch), exc)
                return
            self.stats.stored += len(batch)
            self._rows += len(batch)
            if self._rows > self._max_rows:  # the bound holds after every flush
                await self._prune()

    async def prune(self) -> int:
        """Delete entries older than the configured days, then the oldest past max_rows."""
        async with self._writing:
            return await self._prune()

    async def _prune(self) -> int:
        cutoff = self.clock() - self._days * DAY_S
        try:
            deleted = await asyncio.to_thread(self._store.prune, cutoff, self._max_rows)
        except MemoryUnavailable as exc:
            log.warning("could not prune the injection log: %s", exc)
            return 0
        self._rows = max(self._rows - deleted, 0)
        self.stats.pruned += deleted
        return deleted

    # --- reads and erasure (management routes) ---------------------------------------------

    async def page(
        self, user_id: str | None, before_seq: int | None, limit: int
    ) -> list[Injection]:
        await self.flush()  # a call answered a moment ago is listed
        return await asyncio.to_thread(self._store.page, user_id, before_seq, limit)

    async def by_request(self, request_id: str) -> list[Injection]:
        await self.flush()
        return await asyncio.to_thread(self._store.by_request, request_id)

    async def of_memory(
        self, memory_id: str, user_id: str | None, before_seq: int | None, limit: int
    ) -> list[Injection]:
        await self.flush()
        return await asyncio.to_thread(self._store.of_memory, memory_id, user_id, before_seq, limit)

    async def erase(self, user_id: str, session_id: str | None = None) -> int:
        """A user's (or one session's) entries, recorded and stored, are gone."""
        async with self._writing:
            before = len(self._pending)
            self._pending = [
                e
                for e in self._pending
                if e.user_id != user_id or (session_id is not None and e.session_id != session_id)
            ]
            deleted = await asyncio.to_thread(self._store.erase, user_id, session_id)
            self._rows = max(self._rows - deleted, 0)
            return deleted + before - len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def rows(self) -> int:
        return self._rows
