"""Forwarding one model call with memory, shared by every API route (chat, Responses, Anthropic
Messages): send the body, hand the answer back as it came with the memory headers, and remember
the turn, after a JSON answer or when a teed stream ends for any reason."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from proxy.core.errors import UpstreamBrokeOff, UpstreamTimeout, UpstreamUnreachable
from proxy.core.paths import forwarded_query
from proxy.core.scope import RequestScope
from proxy.core.sse import StreamAnswer
from proxy.deps import Services
from proxy.http.turn import Recall, remember, remembers
from proxy.upstream import Upstream, UpstreamResponse, response_headers

__all__ = ["Turn", "WireFormat", "forward_turn", "path_user"]

log = logging.getLogger(__name__)
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# Where the base-URL middleware (proxy/http/base_url.py) leaves the user id of `/u/{id}/v1/...`.
PATH_USER_KEY = "memory_proxy.path_user"


def path_user(request: Request) -> str | None:
    user: str | None = request.scope.get(PATH_USER_KEY)
    return user


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


async def forward_turn(
    services: Services,
    upstream: Upstream,
    request: Request,
    path: str,
    body: bytes,
    turn: Turn,
    wire: WireFormat,
) -> Response:
    headers = upstream.request_headers(request.headers)
    headers["content-type"] = "application/json"
    recalled = turn.recall
    log.debug("memory %s (%d) in %.1f ms", recalled.status, recalled.count, recalled.elapsed_ms)
    try:
        answer = await upstream.open(
            "POST", path, forwarded_query(request.url.query), headers, body
        )
    except Exception:
        _remember(services, turn, "")  # what the user said is kept regardless
        raise
    if answer.header("content-type").startswith("text/event-stream"):
        return StreamingResponse(
            _tee(answer, services, turn, wire.stream(), wire.end),
            status_code=answer.status_code,
            headers=response_headers(answer.headers, turn.recall.headers | STREAM_HEADERS),
        )
    try:
        content = await answer.read()
    except UpstreamBrokeOff as exc:  # headers came, then the body stalled or broke off
        _remember(services, turn, "")
        if exc.timed_out:
            raise UpstreamTimeout(str(exc)) from exc
        raise UpstreamUnreachable(str(exc)) from exc
    finally:
        answer.close()
    text = ""
    if answer.status_code < 300 and remembers(services, turn.request_scope):
        try:
            text = wire.answer_of(json.loads(content))
        except ValueError:
            text = ""
    _remember(services, turn, text)
    return Response(
        content=content,
        status_code=answer.status_code,
        headers=response_headers(answer.headers, turn.recall.headers),
    )


def _remember(services: Services, turn: Turn, answer: str) -> None:
    remember(services, turn.request_scope, turn.user_text, answer)


async def _tee(
    upstream: UpstreamResponse, services: Services, turn: Turn, answer: StreamAnswer, end: str
) -> AsyncIterator[bytes]:
    """Pass the stream on chunk by chunk, and assemble the answer on the side. The turn is queued
    when the stream ends for any reason, including a client that hung up."""
    try:
        async for chunk in upstream.chunks():
            answer.feed(chunk)
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
        _remember(services, turn, answer.text)
        upstream.close()
