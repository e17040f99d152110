"""What happens to one accepted turn: extract, reconcile with what is stored, write (blocking).

Two extractors: the offline rules (default, no LLM) and an LLM that reconciles in one call.
Both see the user's own words of the new turn only (redacted at acceptance, then screened:
pasted documents and instruction-override attempts left out, proxy/memory/extract/guard.py);
the injected memory block never reaches this point, and the assistant's claims are never stored
as facts about the user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from proxy.core.errors import ExtractionParseError
from proxy.memory.extract.guard import Screened, screen, screen_context
from proxy.memory.extract.llm import (
    Decision,
    LlmExtractor,
    build_messages,
    parse_decisions,
)
from proxy.memory.extract.offline import Fact, classified, extract_offline
from proxy.memory.service import MemoryService
from proxy.memory.write.outbox import Turn
from proxy.memory.write.writer import ProcessTurn

__all__ = ["ExtractionStats", "llm_processor", "offline_processor", "process_offline"]

log = logging.getLogger(__name__)


@dataclass
class ExtractionStats:
    llm_calls: int = 0
    llm_parse_failures: int = 0
    llm_call_failures: int = 0
    offline_fallbacks: int = 0
    injections_dropped: int = 0  # instruction-override sentences not stored (issue 14)
    pasted_skipped: int = 0  # pasted parts (documents, code, quotes) not mined for facts
    # With extraction.use_client_key: turns extracted without their client's key (the client
    # sent none, or the proxy restarted while the turn was pending: keys live in memory only).
    without_client_key: int = 0

    def count(self, screened: Screened) -> Screened:
        self.injections_dropped += screened.injections
        self.pasted_skipped += screened.pasted
        return screened


def _expiry(service: MemoryService, ttl_days: float | None) -> datetime | None:
    return service.clock() + timedelta(days=ttl_days) if ttl_days is not None else None


def process_offline(
    service: MemoryService, turn: Turn, ttl_days: float | None, stats: ExtractionStats
) -> None:
    service.learn_language_blocking(turn.scope, turn.user_text)
    extraction = extract_offline(stats.count(screen(turn.user_text)).text)
    for target in extraction.forget:
        service.forget_blocking(turn.scope, target, source=turn.id)
    service.remember_blocking(
        turn.scope,
        extraction.facts,
        turn.occurred_at,
        source=turn.id,
        expires_at=_expiry(service, ttl_days),
    )


def offline_processor(
    service: MemoryService, stats: ExtractionStats, ttl_days: float | None = None
) -> ProcessTurn:
    def process(turn: Turn) -> None:
        process_offline(service, turn, ttl_days, stats)

    return process


def llm_processor(
    service: MemoryService,
    extractor: LlmExtractor,
    stats: ExtractionStats,
    ttl_days: float | None = None,
    max_existing: int = 10,
    use_client_key: bool = False,
) -> ProcessTurn:
    # Existing memories shown to the model: related ones only, with a loose threshold.
    related = replace(service.selection, top_k=max_existing, min_similarity=0.2)

    def process(turn: Turn) -> None:
        service.learn_language_blocking(turn.scope, turn.user_text)
        own = screen(turn.user_text)  # counted once, by whichever extractor stores the turn
        if not own.text:
            stats.count(own)
            return  # nothing the user said about themselves: no call
        existing = [
            hit.memory for hit in service.search_blocking(turn.scope, own.text, params=related)
        ]
        context = screen_context(turn.assistant_text)
        messages = build_messages(own.text, context.text, [m.text for m in existing])
        key = turn.api_key if use_client_key else None
        if use_client_key and key is None:
            stats.without_client_key += 1
        decisions = _decide(extractor, messages, len(existing), stats, key)
        if decisions is None:
            stats.offline_fallbacks += 1
            process_offline(service, turn, ttl_days, stats)
            return
        stats.count(own)
        stats.injections_dropped += context.injections
        source, label = turn.id, f"llm:{extractor.model}"
        adds = [_fact(d) for d in decisions if d.action == "ADD"]
        for decision in decisions:
            if decision.target is None:
                continue
            target = existing[decision.target]
            if decision.action == "UPDATE":
                service.update_blocking(target, text=decision.text, source=source)
            elif decision.action == "DELETE":
                service.delete_blocking([target], source=source)
        service.remember_blocking(
            turn.scope,
            adds,
            turn.occurred_at,
            source=source,
            extractor=label,
            expires_at=_expiry(service, ttl_days),
        )

    return process


def _fact(decision: Decision) -> Fact:
    """The model's fact, classified by the offline rules; the tier the model gave wins."""
    fact = classified(decision.text, decision.kind)  # type: ignore[arg-type]
    return fact if decision.tier is None else replace(fact, tier=decision.tier)


def _decide(
    extractor: LlmExtractor,
    messages: list[dict[str, str]],
    count: int,
    stats: ExtractionStats,
    api_key: str | None,
) -> list[Decision] | None:
    """One call, one retry on an unreadable answer; None means: fall back to offline rules."""
    for attempt in (1, 2):
        stats.llm_calls += 1
        try:
            return parse_decisions(extractor.complete(messages, api_key), count)
        except ExtractionParseError as exc:
            stats.llm_parse_failures += 1
            log.warning("extraction answer unreadable (attempt %d): %s", attempt, exc)
        except Exception as exc:  # litellm raises provider-specific types; all mean "no answer"
            stats.llm_call_failures += 1
            log.warning("extraction call failed (attempt %d): %s", attempt, type(exc).__name__)
            return None  # a timeout or outage will not be fixed by asking again right away
    return None
