"""Forwarding one model call with memory, shared by every API route (chat, Responses, Anthropic
Messages): send the body, hand the answer back as it came with the memory headers, and remember
the turn: after a JSON answer (before it is sent), or, for a stream, before the event that ends a
complete stream is relayed (else when the stream ends for any reason). A turn that could not be
persisted makes the call say `X-Memory-Status: error`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from proxy.core.errors import UpstreamBrokeOff, UpstreamTimeout, UpstreamUnreachable
from proxy.core.paths import forwarded_query
from proxy.core.scope import RequestScope, resolve_scope
from proxy.core.sse import StreamAnswer
from proxy.deps import Services
from proxy.http.auth import check_user_key
from proxy.http.turn import Recall, persisting, remember, remembers
from proxy.upstream import Upstream, UpstreamResponse, response_headers

__all__ = [
    "NOT_PERSISTED",
    "STREAM_HEADERS",
    "Turn",
    "WireFormat",
    "client_key",
    "forward_turn",
    "path_user",
    "paying",
    "remember_turn",
    "scope_of",
]

log = logging.getLogger(__name__)
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# Where the base-URL middleware (proxy/http/base_url.py) leaves the user id of `/u/{id}/v1/...`.
PATH_USER_KEY = "memory_proxy.path_user"


def path_user(request: Request) -> str | None:
    user: str | None = request.scope.get(PATH_USER_KEY)
    return user


def scope_of(request: Request, services: Services, body: Mapping[str, Any]) -> RequestScope:
    """Who is asking (proxy/core/scope.py) and, with `auth.user_keys`, whether the call's API
    key may act as that user (401/403 otherwise). Every model route resolves its scope here."""
    request_scope = resolve_scope(request.headers, body, request.query_params, path_user(request))
    if request_scope.scope is not None:
        check_user_key(
            services.settings.auth.user_keys, request.headers, request_scope.scope.user_id
        )
    return request_scope


@dataclass(frozen=True)
class WireFormat:
    """How one API's answers read: a JSON answer's text, and a tee for its event stream."""

    answer_of: Callable[[Any], str]
    stream: Callable[[], StreamAnswer]
    end: str  # the event that ends a complete stream, named in the error for a cut one


@dataclass(frozen=True)
class Turn:
    """One call as memory sees it: whose, what the user said, what recall contributed."""

    request_scope: RequestScope
    user_text: str
    recall: Recall
    # The client's own key for the extraction of this turn (`extraction.use_client_key`): held
    # in memory by the writer, never written to disk.
    client_key: str | None = field(default=None, repr=False)


def client_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: `Authorization: Bearer <key>` (OpenAI's SDKs) or `x-api-key`
    (Anthropic's)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def paying(services: Services, request: Request, turn: Turn) -> Turn:
    """The turn with its client's key, when that key pays for the turn's extraction."""
    if not services.settings.extraction.use_client_key:
        return turn
    return replace(turn, client_key=client_key(request.headers))


async def forward_turn(
    services: Services,
    upstream: Upstream,
    request: Request,
    path: str,
    body: bytes,
    turn: Turn,
    wire: WireFormat,
) -> Response:
    turn = paying(services, request, turn)
    headers = upstream.request_headers(request.headers)
    headers["content-type"] = "application/json"
    recalled = turn.recall
    log.debug("memory %s (%d) in %.1f ms", recalled.status, recalled.count, recalled.elapsed_ms)
    try:
        answer = await upstream.open(
            "POST", path, forwarded_query(request.url.query), headers, body
        )
    except Exception:
        # What the user said is kept regardless (README); there is no answer to keep.
        await remember_turn(services, turn, "")
        raise
    memory_headers = turn.recall.headers
    if answer.header("content-type").startswith("text/event-stream"):
        if not persisting(services, turn.request_scope):  # its turn is written after the headers
            memory_headers = memory_headers | NOT_PERSISTED
        return StreamingResponse(
            _tee(answer, services, turn, wire.stream(), wire.end),
            status_code=answer.status_code,
            headers=response_headers(answer.headers, memory_headers | STREAM_HEADERS),
        )
    try:
        content = await answer.read()
    except UpstreamBrokeOff as exc:  # headers came, then the body stalled or broke off
        await remember_turn(services, turn, "")
        if exc.timed_out:
            raise UpstreamTimeout(str(exc)) from exc
        raise UpstreamUnreachable(str(exc)) from exc
    finally:
        answer.close()
    text = ""  # an upstream error's text is not an answer
    if answer.status_code < 300 and remembers(services, turn.request_scope):
        try:
            text = wire.answer_of(json.loads(content))
        except ValueError:
            text = ""
    if not await remember_turn(services, turn, text):
        memory_headers = memory_headers | NOT_PERSISTED
    return Response(
        content=content,
        status_code=answer.status_code,
        headers=response_headers(answer.headers, memory_headers),
    )


NOT_PERSISTED = {"x-memory-status": "error"}


async def remember_turn(services: Services, turn: Turn, answer: str) -> bool:
    """The turn to the outbox (proxy/http/turn.py `remember`), with its client's key if any."""
    return await remember(
        services, turn.request_scope, turn.user_text, answer, client_key=turn.client_key
    )


async def _tee(
    upstream: UpstreamResponse, services: Services, turn: Turn, answer: StreamAnswer, end: str
) -> AsyncIterator[bytes]:
    """Pass the stream on chunk by chunk, and assemble the answer on the side. The turn is in the
    outbox before the chunk that completes the stream's end event goes out (a crash right after
    the client has its answer loses nothing, even while the upstream holds the connection open);
    a stream that ends otherwise (cut, an error, a client that hung up) is remembered as it ends."""
    answered = upstream.status_code == 200  # an error body is not an answer
    remembered = False
    try:
        async for chunk in upstream.chunks():
            answer.feed(chunk)
            if answer.done and not remembered:
                remembered = True
                await remember_turn(services, turn, answer.text if answered else "")
            yield chunk
        if upstream.status_code == 200 and not answer.done and answer.error is None:
            # A cut stream must not look complete: the SDKs raise on an error event.
            yield answer.error_event(
                f"the upstream ended the stream without {end}", "upstream_stream_incomplete"
            )
    except UpstreamBrokeOff as exc:
        log.warning("upstream stream broke off: %s", exc)
        yield answer.error_event(str(exc), "upstream_stream_error")
    finally:
        upstream.close()
        if not remembered:
            # Shielded: a client that hung up cancels this generator, not the write.
            write = remember_turn(services, turn, answer.text if answered else "")
            await asyncio.shield(asyncio.ensure_future(write))
