"""What happens to one accepted turn: extract, honour forget commands, store (blocking)."""

from __future__ import annotations

import logging
from datetime import timedelta

from proxy.memory.extract_offline import extract_offline
from proxy.memory.outbox import Turn
from proxy.memory.service import MemoryService
from proxy.memory.writer import ProcessTurn

log = logging.getLogger(__name__)


def offline_processor(service: MemoryService, ttl_days: float | None = None) -> ProcessTurn:
    """Rule-based extraction from the user's words only: the assistant's claims are not facts
    about the user, and the injected memory block never reaches this point."""

    def process(turn: Turn) -> None:
        extraction = extract_offline(turn.user_text)
        for target in extraction.forget:
            forgotten = service.forget_blocking(turn.scope, target)
            log.debug("forgot %d memories", len(forgotten))
        expires_at = service.clock() + timedelta(days=ttl_days) if ttl_days is not None else None
        service.remember_blocking(
            turn.scope, extraction.facts, turn.occurred_at, source=turn.id, expires_at=expires_at
        )

    return process
