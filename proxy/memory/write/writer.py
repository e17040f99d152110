"""Write-back off the response path: accept a turn (redact, persist), then a worker turns it into
memories. A failed turn is retried with backoff and parked after too many attempts: counted and
logged, never dropped silently."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

from proxy.core.errors import MemoryUnavailable, TurnNotPersisted
from proxy.core.scope import Scope
from proxy.memory.write.intake import prepare
from proxy.memory.write.outbox import Outbox, Turn

__all__ = [
    "MAX_BATCH_S",
    "RESTART_DELAY_S",
    "STUCK_AFTER_S",
    "BatchedWrites",
    "ProcessTurn",
    "WriteBack",
    "WriterStats",
]

log = logging.getLogger(__name__)

ProcessTurn = Callable[[Turn], None]  # blocking; runs in a worker thread
# A context in which the memory writes of several turns are collected and made at its end
# (MemoryService.batched_writes: one unit of work).
BatchedWrites = Callable[[], AbstractContextManager[None]]
# Turns processed into one batch of store writes: as many as fit in this time (offline
# extraction: ~10 turns; an LLM extractor's call takes longer, so its turns go one by one and
# are not held back behind each other).
MAX_BATCH_S = 0.05

# Turns longer than this (both sides) are redacted in a worker thread: on the event loop, a
# long paste would hold every other chat up while the patterns run over it.
OFFLOAD_CHARS = 4_000
# While turns cannot be persisted, a write to the outbox is tried at most this often to see
# whether the disk has room again (it also recovers on the next turn that is stored).
PROBE_EVERY_S = 1.0
# Once the queue has drained, the outbox's WAL is cut (processed text leaves the disk); at most
# this often, since the cut briefly holds up a new turn's write.
COMPACT_EVERY_S = 1.0

# A worker with pending turns and no progress for this long is stuck: /healthz says so and the
# worker is restarted (the turns it held stay pending and are processed again: ids make that
# idempotent).
STUCK_AFTER_S = 120.0
RESTART_DELAY_S = 1.0


@dataclass
class WriterStats:
    accepted: int = 0
    processed: int = 0
    failed_attempts: int = 0
    parked: int = 0
    unreadable: int = 0  # outbox rows this version could not read: parked with the reason
    redacted: int = 0
    refused_backlog_full: int = 0
    store_outages: int = 0
    clipped: int = 0  # turns longer than intake.MAX_TURN_CHARS, kept as head and tail
    not_persisted: int = 0  # answered turns the outbox could not take (a full disk): lost
    worker_restarts: int = 0  # the worker failed or was stuck, and was started again


class WriteBack:
    def __init__(
        self,
        outbox: Outbox,
        process: ProcessTurn,
        max_attempts: int = 5,
        max_backlog: int = 100_000,
        batch: BatchedWrites = contextlib.nullcontext,
        redact_contacts: bool = True,
    ) -> None:
        self._outbox = outbox
        self._process = process
        self._batch = batch
        self._max_attempts = max_attempts
        self._max_backlog = max_backlog
        self._pending = outbox.counts()["pending"]  # kept in memory: no COUNT(*) per request
        self._outage = 0  # consecutive store-unavailable rounds, for backoff
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # flush or shutdown: cut a backoff short
        self._progress = asyncio.Condition()
        self._rounds = 0  # rounds of the worker so far (a flush waits for the next one)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_progress = time.monotonic()
        self._failure: str | None = None  # why the worker last had to be restarted
        self.stuck_after_s = STUCK_AFTER_S
        self.stats = WriterStats()
        self._keys: dict[str, str] = {}  # turn id -> the client's key, in memory only
        self._redact_contacts = redact_contacts
        self._persist_error: str | None = None  # why the last turn could not be persisted
        self._probed_at = 0.0
        self._unpersisted_unreported = 0  # lost turns no flush has reported yet
        self._compacted_at = 0.0

    async def accept(
        self,
        scope: Scope,
        user_text: str,
        assistant_text: str,
        occurred_at: datetime | None,
        *,
        api_key: str | None = None,
    ) -> str | None:
        """Persist the turn (secrets removed first) and wake the worker; returns the turn id, or
        None when there was nothing to keep or the backlog is full. Raises TurnNotPersisted
        when the outbox cannot take it: the turn is lost, and counted. `api_key` (the client's,
        for its extraction) is kept in memory only, until the turn is done or parked: a restart
        forgets it, and the turn is then extracted without it."""
        if not user_text.strip():
            return None
        if self._pending >= self._max_backlog:
            # Refused, not lost: nothing was accepted. The chat itself is never held up.
            self.stats.refused_backlog_full += 1
            log.warning("write backlog full (%d turns); turn not queued", self._pending)
            return None
        turn = Turn(
            id=str(uuid.uuid4()),
            scope=scope,
            user_text=user_text,
            assistant_text=assistant_text,
            occurred_at=occurred_at,
            accepted_at=datetime.now(UTC),
        )
        if len(user_text) + len(assistant_text) > OFFLOAD_CHARS:
            persisted = await asyncio.to_thread(self._persist, turn)
        else:
            persisted = self._persist(turn)
        if persisted is None:
            self.stats.not_persisted += 1
            self._unpersisted_unreported += 1
            raise TurnNotPersisted(self._persist_error or "the outbox refused the turn")
        clipped, redacted = persisted
        self.stats.clipped += clipped
        self.stats.redacted += redacted
        if api_key:
            self._keys[turn.id] = api_key
        self._pending += 1
        self.stats.accepted += 1
        self._wake.set()
        return turn.id

    def _persist(self, turn: Turn) -> tuple[bool, bool] | None:
        """Redact, then write to the outbox (nothing reaches disk before redaction). Returns
        (clipped, redacted), or None when the outbox could not take the turn."""
        prepared = prepare(turn.user_text, turn.assistant_text, contacts=self._redact_contacts)
        redacted = replace(
            turn, user_text=prepared.user_text, assistant_text=prepared.assistant_text
        )
        try:
            self._outbox.put(redacted)
        except (sqlite3.Error, OSError) as exc:
            if self._persist_error is None:
                log.error("a turn could not be persisted (it is lost): %s", exc)
            self._persist_error = f"{type(exc).__name__}: {exc}"
            return None
        if self._persist_error is not None:
            log.warning("turns are persisted again")
            self._persist_error = None
        return prepared.clipped, prepared.redacted

    def persisting(self) -> bool:
        """False while the outbox cannot take turns (checked again once a second)."""
        if self._persist_error is None:
            return True
        now = time.monotonic()
        if now - self._probed_at >= PROBE_EVERY_S:
            self._probed_at = now
            try:
                self._outbox.probe()
            except (sqlite3.Error, OSError) as exc:
                self._persist_error = f"{type(exc).__name__}: {exc}"
            else:
                log.warning("the outbox takes writes again")
                self._persist_error = None
        return self._persist_error is None

    def take_unpersisted(self) -> int:
        """Turns lost since the last call (flush reports them once)."""
        lost, self._unpersisted_unreported = self._unpersisted_unreported, 0
        return lost

    def start(self) -> None:
        self._last_progress = time.monotonic()
        self._task = asyncio.create_task(self._supervise(), name="memory-writer")

    def state(self) -> str:
        """ok | not_persisting | store_unavailable | stuck | restarting | stopped (/healthz)."""
        if self._task is None or self._task.done():
            return "stopped"
        if not self.persisting():
            return "not_persisting"
        if self._failure is not None:
            return "restarting"
        if self._outage:
            return "store_unavailable"
        if self._stuck():
            return "stuck"
        return "ok"

    def _stuck(self) -> bool:
        """Pending turns and no progress for `stuck_after_s` (a store outage is not stuck: the
        worker is waiting for the store on purpose)."""
        return (
            self._pending > 0
            and not self._outage
            and time.monotonic() - self._last_progress > self.stuck_after_s
        )

    async def _supervise(self) -> None:
        """The worker never stays down: an error it did not expect is logged with its traceback
        and counted, and the worker starts again; a worker that holds pending turns without
        progress for `stuck_after_s` is cancelled and started again. What it held is still
        pending in the outbox and is processed again (ids make that idempotent)."""
        while not self._stopping:
            worker = asyncio.create_task(self._run(), name="memory-writer-worker")
            try:
                while not worker.done():
                    await asyncio.wait({worker}, timeout=min(5.0, self.stuck_after_s / 4))
                    if not worker.done() and self._stuck():
                        log.error(
                            "the memory writer made no progress for %.1f s with %d turns"
                            " pending; restarting it",
                            self.stuck_after_s,
                            self._pending,
                        )
                        worker.cancel()
                        await asyncio.wait({worker})
            finally:
                if not worker.done():  # the supervisor itself is being cancelled (stop)
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
            if self._stopped():
                return
            error = None if worker.cancelled() else worker.exception()
            self.stats.worker_restarts += 1
            self._failure = "stuck" if error is None else f"{type(error).__name__}: {error}"
            if error is not None:
                log.error("the memory writer failed; restarting it", exc_info=error)
            await self._sleep(RESTART_DELAY_S)
            self._failure = None
            self._last_progress = time.monotonic()

    def _stopped(self) -> bool:
        # A method, not the flag itself: `stop()` sets it while the supervisor awaits.
        return self._stopping

    async def stop(self, drain_timeout: float) -> None:
        """Give pending turns up to `drain_timeout` seconds; what is left stays in the outbox
        and is processed after the next start."""
        if self._task is None:
            return
        if drain_timeout > 0:
            await self.flush(drain_timeout)
        self._stopping = True
        self._wake.set()
        self._urgent.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def flush(self, timeout: float) -> bool:
        """Wait until every turn accepted before this call is processed (or parked). The outbox
        is read off the event loop, once per round of the worker."""
        watermark = await asyncio.to_thread(self._outbox.last_seq)
        self._wake.set()
        self._urgent.set()

        async def drained() -> None:
            while True:
                rounds = self._rounds  # a round that ends while the outbox is read is not missed
                if await asyncio.to_thread(self._outbox.pending_up_to, watermark) == 0:
                    return
                async with self._progress:
                    await self._progress.wait_for(partial(self._rounds_since, rounds))

        try:
            await asyncio.wait_for(drained(), timeout)
        except TimeoutError:
            return False
        return True

    async def erase_user(self, user_id: str, session_id: str | None = None) -> None:
        """An erase reaches the outbox too: the user's parked turns, and the WAL."""
        await asyncio.to_thread(self._outbox.erase_user, user_id, session_id)

    async def backlog(self) -> dict[str, int]:
        """Turns waiting to be processed, and turns parked as failed (read off the loop)."""
        return await asyncio.to_thread(self._outbox.counts)

    def _rounds_since(self, rounds: int) -> bool:
        return self._rounds != rounds

    async def _round_done(self) -> None:
        self._rounds += 1
        async with self._progress:
            self._progress.notify_all()

    async def _run(self) -> None:
        while not self._stopping:
            turns, unreadable = await asyncio.to_thread(self._outbox.pending)
            if unreadable:
                self._pending -= unreadable
                self.stats.unreadable += unreadable
                self.stats.parked += unreadable
                log.error("parked %d outbox rows that could not be read as turns", unreadable)
            if not turns:
                self._last_progress = time.monotonic()
                await self._round_done()
                if unreadable:
                    continue
                self._wake.clear()
                await self._idle()
                continue
            while turns and not self._stopping:
                handled = await self._handle(turns)
                if handled == 0:
                    break  # the store is down: back off, then read the outbox again
                turns = turns[handled:]
            await self._round_done()

    async def _idle(self) -> None:
        """Wait for new turns; meanwhile cut the outbox's WAL once it holds processed text."""
        while self._outbox.dirty:
            wait = self._compacted_at + COMPACT_EVERY_S - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                if self._wake.is_set():
                    return
            self._compacted_at = time.monotonic()
            try:
                await asyncio.to_thread(self._outbox.compact)
            except sqlite3.Error as exc:  # a full disk, a lock: tried again next time
                log.warning("could not cut the outbox's WAL: %s", exc)
                break
        await self._wake.wait()

    async def _handle(self, turns: list[Turn]) -> int:
        """Process a batch from the head of `turns`; returns how many were handled (0 when the
        store is down and the round should pause)."""
        try:
            outcomes = await asyncio.to_thread(self._process_batch, turns)
        except MemoryUnavailable as exc:
            # An outage is not the turns' fault: they stay pending, unparked, however long.
            self.stats.store_outages += 1
            self._outage += 1
            delay = min(0.2 * 2 ** min(self._outage, 8), 30.0)
            log.warning("memory store unavailable, retrying in %.1f s: %s", delay, exc)
            await self._sleep(delay)
            return 0
        self._outage = 0
        self._last_progress = time.monotonic()
        handled = turns[: len(outcomes)]
        stored = [turn for turn, error in zip(handled, outcomes, strict=True) if error is None]
        await asyncio.to_thread(self._outbox.done, stored)
        for turn in stored:
            self._keys.pop(turn.id, None)
        self._pending -= len(stored)
        self.stats.processed += len(stored)
        backoff = 0.0
        for turn, error in zip(handled, outcomes, strict=True):
            if error is None:
                continue
            self.stats.failed_attempts += 1
            message = f"{type(error).__name__}: {error}"
            if await asyncio.to_thread(self._outbox.retry_later, turn, message, self._max_attempts):
                self._keys.pop(turn.id, None)
                self._pending -= 1
                self.stats.parked += 1
                log.error("memory write parked after %d attempts: %s", self._max_attempts, error)
            else:
                log.warning(
                    "memory write failed (attempt %d), will retry: %s", turn.attempts + 1, error
                )
                backoff = max(backoff, min(0.2 * 2**turn.attempts, 30.0))
        if backoff:
            await self._sleep(backoff)
        return len(outcomes)

    def _process_batch(self, turns: list[Turn]) -> list[Exception | None]:
        """Blocking: turns from the head of `turns`, their writes made together at the end.
        One outcome per turn processed (None: done); a store outage raises for the batch. A
        batch whose writes fail for another reason (a bug) fails each of its turns once: they
        are retried, then parked with the reason, like a turn that fails alone."""
        outcomes: list[Exception | None] = []
        started = time.monotonic()
        try:
            with self._batch():
                for turn in turns:
                    try:
                        self._process(replace(turn, api_key=self._keys.get(turn.id)))
                        outcomes.append(None)
                    except MemoryUnavailable:
                        raise
                    except Exception as exc:  # this turn's fault: retried alone, then parked
                        log.debug("processing a turn failed", exc_info=exc)
                        outcomes.append(exc)
                    if time.monotonic() - started >= MAX_BATCH_S:
                        break
        except MemoryUnavailable:
            raise
        except Exception as exc:
            log.error("storing the writes of %d turns failed", len(outcomes), exc_info=exc)
            return [exc] * max(len(outcomes), 1)
        return outcomes

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once for a flush or shutdown (not for every new turn)."""
        self._urgent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._urgent.wait(), seconds)
