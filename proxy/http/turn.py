"""The memory side of one model call, shared by every API route (chat, and the others as they
gain memory): read the body, recall memories before the call, remember the turn after it.

`recall` is the one place where a memory failure degrades to "no memories" (fail open): a call
never breaks because memory did. Where a route puts the recalled blocks is the route's business
(chat: messages; the Responses API: instructions and input; Anthropic: system and messages).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from proxy.core.conversations import Injected, fingerprints
from proxy.core.errors import InvalidRequest, PayloadTooLarge, TurnNotPersisted
from proxy.core.inject import last_user_index, render
from proxy.core.records import Memory
from proxy.core.scope import RequestScope
from proxy.core.tokens import estimate_tokens
from proxy.deps import Services
from proxy.memory.recall.compose import Recalled
from proxy.observe.context import note_model
from proxy.observe.recall import observe_recall

__all__ = [
    "Recall",
    "encode_body",
    "parse_body",
    "persisting",
    "read_body",
    "recall",
    "remember",
    "remembers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recall:
    """What memory contributes to one call."""

    status: str  # injected | none | off | no-user | error (the X-Memory-Status header)
    count: int = 0  # memories the call carries (X-Memory-Count)
    # The block for the place where the API keeps standing instructions (the system message,
    # `instructions`, Anthropic's `system`); None: nothing to add there.
    system_block: str | None = None
    # The block that goes with the user's new turn (at the start of the last user message);
    # with the system placement everything is in `system_block` and this is None.
    turn_block: str | None = None
    turn_index: int | None = None  # where `turn_block` goes in the conversation given to recall
    # Blocks earlier requests of this conversation carried, to put back where they were
    # (conversation index -> block), so that the conversation keeps its prefix.
    earlier_blocks: Mapping[int, str] = field(default_factory=dict)
    injected: dict[str, list[str]] = field(default_factory=dict)  # memory ids by tier
    # Ids earlier requests of this conversation injected, carried again in their places (for
    # the injection log: the model sees them on this call too).
    carried: frozenset[str] = frozenset()
    tokens: int = 0  # estimated tokens of the blocks this call adds
    elapsed_ms: float = 0.0  # time retrieval took

    @property
    def headers(self) -> dict[str, str]:
        return {"x-memory-status": self.status, "x-memory-count": str(self.count)}

    @property
    def changes(self) -> bool:
        """Whether the request must be rewritten."""
        return bool(self.system_block or self.turn_block or self.earlier_blocks)

    def turn_blocks(self) -> dict[int, str]:
        """Every block for a user message of the conversation: the earlier ones and this
        turn's (conversation index -> block)."""
        blocks = dict(self.earlier_blocks)
        if self.turn_block and self.turn_index is not None:
            blocks[self.turn_index] = self.turn_block
        return blocks


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the request body is not valid JSON", code="invalid_json") from None
    except RecursionError:  # [[[[... thousands deep: the parser gives up before we do
        raise InvalidRequest("the request body is nested too deeply", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
    note_model(body.get("model"))  # for the injection log
    return body


def encode_body(body: dict[str, Any]) -> bytes:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate the client sent escaped ("\\udc80") is not UTF-8: keep it escaped.
        return json.dumps(body, separators=(",", ":")).encode()


async def recall(
    services: Services,
    request_scope: RequestScope,
    query: str,
    conversation: Sequence[dict[str, Any]] | None = None,
    *,
    carries_turn: bool = True,
) -> Recall:
    """Memories for this turn, or none (fail open).

    `conversation`: the messages the client sent (chat's `messages`, Anthropic's `messages`, the
    Responses API's input items) when the client resends its history: with the cache-aware
    placement, the blocks its earlier requests carried come back at the same places, and this
    turn's block (for the last user message) holds only what is new. Without a conversation,
    `carries_turn` says whether the route can put a turn block on the user's new input (the
    Responses API with `previous_response_id`: the server keeps the history); else everything
    goes into the system block.

    What memory did is counted in the metrics and, for a call with a user, written to the
    injection log (off the request path)."""
    result = await _recall(services, request_scope, query, conversation, carries_turn=carries_turn)
    observe_recall(services.metrics, services.injections, request_scope.scope, result)
    return result


async def _recall(
    services: Services,
    request_scope: RequestScope,
    query: str,
    conversation: Sequence[dict[str, Any]] | None,
    *,
    carries_turn: bool,
) -> Recall:
    scope = request_scope.scope
    if scope is None:
        return Recall("no-user")
    if not request_scope.mode.reads:
        return Recall("off")
    if services.memory is None:
        return Recall("error")
    settings = services.settings
    placement = settings.inject.placement
    sticky = placement == "cache-aware" and conversation is not None
    keys = fingerprints(scope, conversation) if sticky and conversation else []
    length, known = services.conversations.longest(keys) if keys else (0, None)
    turn_index = last_user_index(conversation) if conversation is not None else None
    started = time.perf_counter()
    timeout = settings.retrieval.timeout_ms / 1000
    try:
        if known is not None and (
            turn_index is None or turn_index in known.turn_blocks or turn_index < length - 1
        ):
            # A retry, or only tool results since the user spoke: the same blocks, no retrieval
            # (a new block on an earlier message would end the prefix there).
            if await asyncio.wait_for(services.memory.all_live(scope, known.memory_ids), timeout):
                return _carried(known)
            length, known = 0, None
        carried_ids = known.memory_ids if known is not None else frozenset()
        recalled = await asyncio.wait_for(
            services.memory.recall(scope, query, services.recall_plan, carried_ids), timeout
        )
        if not recalled.carried_live:
            # Something the conversation carried was deleted or expired since: start afresh
            # (the prefix ends here once) rather than bring it back.
            length, known = 0, None
    except TimeoutError:
        log.warning("memory retrieval exceeded %.0f ms; forwarding without memory", timeout * 1000)
        return Recall("error")
    except Exception:
        log.exception("memory retrieval failed; forwarding without memory")
        return Recall("error")
    elapsed = (time.perf_counter() - started) * 1000
    earlier = known or Injected()
    can_attach = turn_index is not None if conversation is not None else carries_turn
    if known is None:
        profile, dated = recalled.profile, recalled.episodic
        system_block, turn_block = render(profile, dated, placement if can_attach else "system")
    else:  # the conversation goes on: its profile block stays, new memories join this turn
        system_block = known.system_block
        profile = [m for m in recalled.profile if m.id not in known.memory_ids]
        dated = [m for m in recalled.episodic if m.id not in known.memory_ids]
        turn_block = _turn_only(profile, dated)
    shown = {m.id for m in (*profile, *dated)}
    carried = earlier.memory_ids | shown
    if keys:
        blocks = {i: b for i, b in earlier.turn_blocks.items() if i < length}
        if turn_block is not None and turn_index is not None:
            blocks[turn_index] = turn_block
        services.conversations.save(keys[-1], Injected(system_block, blocks, carried))
    if not carried:
        return Recall("none", elapsed_ms=elapsed)
    fresh_system = system_block if known is None else None
    return Recall(
        "injected",
        count=len(carried),
        system_block=system_block,
        turn_block=turn_block,
        turn_index=turn_index,
        earlier_blocks={i: b for i, b in earlier.turn_blocks.items() if i < length},
        injected=_by_tier(recalled, shown),
        carried=earlier.memory_ids,
        tokens=estimate_tokens(fresh_system or "") + estimate_tokens(turn_block or ""),
        elapsed_ms=elapsed,
    )


def _turn_only(profile: Sequence[Memory], dated: Sequence[Memory]) -> str | None:
    """One block for the user's turn, profile items the conversation has not carried yet
    included (a preference stated during the conversation)."""
    block, _ = render(profile, dated, "system")
    return block


def _carried(known: Injected) -> Recall:
    """A request whose user turns all carried their blocks already: the same blocks again."""
    if not known.memory_ids:
        return Recall("none")
    return Recall(
        "injected",
        count=len(known.memory_ids),
        system_block=known.system_block,
        earlier_blocks=dict(known.turn_blocks),
        carried=known.memory_ids,
    )


def _by_tier(recalled: Recalled, shown: set[str]) -> dict[str, list[str]]:
    return {tier: [i for i in ids if i in shown] for tier, ids in recalled.ids().items() if shown}


def remembers(services: Services, request_scope: RequestScope) -> bool:
    """Whether this call's turn will be written (so the answer is worth parsing)."""
    return (
        request_scope.scope is not None
        and request_scope.mode.writes
        and services.writer is not None
    )


async def remember(
    services: Services,
    request_scope: RequestScope,
    user_text: str,
    answer: str,
    *,
    client_key: str | None = None,
) -> bool:
    """Hand the new turn to the write-back queue: persisted in the outbox when this returns.
    False when it could not be (a full disk): the turn is lost and counted, and the call should
    answer with X-Memory-Status: error. Never raises: the answer still goes out. `client_key`:
    the client's key for the extraction of this turn (held in memory only, never on disk)."""
    if not remembers(services, request_scope):
        return True
    assert services.writer is not None and request_scope.scope is not None
    try:
        await services.writer.accept(
            request_scope.scope, user_text, answer, request_scope.occurred_at, api_key=client_key
        )
    except TurnNotPersisted as exc:
        log.warning("the turn could not be persisted: %s", exc)
        return False
    except Exception:
        log.exception("could not queue the turn for memory")
        return False
    return True


def persisting(services: Services, request_scope: RequestScope) -> bool:
    """Whether a turn of this call can be persisted now (a stream's headers go out before its
    turn is written: they say error while the outbox refuses writes)."""
    return not remembers(services, request_scope) or (
        services.writer is not None and services.writer.persisting()
    )
