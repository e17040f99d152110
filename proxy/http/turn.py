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
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from proxy.core.errors import InvalidRequest, PayloadTooLarge
from proxy.core.inject import build_block
from proxy.core.scope import RequestScope
from proxy.deps import Services

__all__ = ["Recall", "encode_body", "parse_body", "read_body", "recall", "remember", "remembers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recall:
    """What memory contributes to one call."""

    status: str  # injected | none | off | no-user | error (the X-Memory-Status header)
    count: int = 0  # memories injected (X-Memory-Count)
    # The block for the place where the API keeps standing instructions (the system message,
    # `instructions`, Anthropic's `system`); None: nothing to add there.
    system_block: str | None = None
    # The block that goes with the user's new turn (cache-aware placement: what changes per turn
    # sits late in the request, so the conversation's prefix stays the same); None: nothing.
    turn_block: str | None = None
    injected: dict[str, list[str]] = field(default_factory=dict)  # memory ids by tier
    tokens: int = 0  # estimated tokens of the blocks
    elapsed_ms: float = 0.0  # time retrieval took

    @property
    def headers(self) -> dict[str, str]:
        return {"x-memory-status": self.status, "x-memory-count": str(self.count)}


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
    return body


def encode_body(body: dict[str, Any]) -> bytes:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate the client sent escaped ("\\udc80") is not UTF-8: keep it escaped.
        return json.dumps(body, separators=(",", ":")).encode()


async def recall(services: Services, request_scope: RequestScope, query: str) -> Recall:
    """Memories for this turn, or none (fail open)."""
    scope = request_scope.scope
    if scope is None:
        return Recall("no-user")
    if not request_scope.mode.reads:
        return Recall("off")
    if services.memory is None:
        return Recall("error")
    settings = services.settings.retrieval
    started = time.perf_counter()
    try:
        hits = await asyncio.wait_for(
            services.memory.search(scope, query), settings.timeout_ms / 1000
        )
    except TimeoutError:
        log.warning(
            "memory retrieval exceeded %.0f ms; forwarding without memory", settings.timeout_ms
        )
        return Recall("error")
    except Exception:
        log.exception("memory retrieval failed; forwarding without memory")
        return Recall("error")
    block, kept = build_block([hit.memory for hit in hits], settings.token_budget)
    elapsed = (time.perf_counter() - started) * 1000
    if not kept:
        return Recall("none", elapsed_ms=elapsed)
    return Recall(
        "injected",
        count=len(kept),
        system_block=block,
        injected={"relevant": [m.id for m in kept]},
        elapsed_ms=elapsed,
    )


def remembers(services: Services, request_scope: RequestScope) -> bool:
    """Whether this call's turn will be written (so the answer is worth parsing)."""
    return (
        request_scope.scope is not None
        and request_scope.mode.writes
        and services.writer is not None
    )


def remember(services: Services, request_scope: RequestScope, user_text: str, answer: str) -> None:
    """Hand the new turn to the write-back queue (persisted before the response completes)."""
    if not remembers(services, request_scope):
        return
    assert services.writer is not None and request_scope.scope is not None
    try:
        services.writer.accept(request_scope.scope, user_text, answer, request_scope.occurred_at)
    except Exception:
        # The outbox is local SQLite; if even that fails the answer still goes out.
        log.exception("could not queue the turn for memory")
