"""POST /v1/chat/completions: scope, retrieve, inject, forward, and write back after the answer."""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from proxy.core.conversation import new_user_turn, query_text, validate_messages
from proxy.core.errors import UpstreamBrokeOff, UpstreamTimeout, UpstreamUnreachable
from proxy.core.inject import inject
from proxy.core.scope import RequestScope, resolve_scope
from proxy.core.sse import AnswerAssembler, answer_of, stream_error_event
from proxy.deps import Services, ServicesDep
from proxy.http.turn import encode_body, parse_body, read_body, recall, remember, remembers
from proxy.upstream import UpstreamResponse, response_headers

log = logging.getLogger(__name__)
router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, services: ServicesDep) -> Response:
    started = time.perf_counter()
    raw = await read_body(request, services.settings.max_body_bytes)
    body = parse_body(raw)
    messages = validate_messages(body)
    request_scope = resolve_scope(request.headers, body, request.query_params)
    result = await recall(services, request_scope, query_text(messages), messages)
    if result.changes:
        injected = inject(messages, result.system_block, result.turn_blocks())
        raw = encode_body({**body, "messages": injected})
    memory_headers = result.headers
    headers = services.upstream.request_headers(request.headers)
    headers["content-type"] = "application/json"
    user_text = new_user_turn(messages)
    log.debug(
        "memory %s (%d) in %.1f ms",
        result.status,
        result.count,
        (time.perf_counter() - started) * 1000,
    )
    try:
        upstream = await services.upstream.open(
            "POST", "chat/completions", request.url.query, headers, raw
        )
    except Exception:
        remember(services, request_scope, user_text, "")  # what the user said is kept regardless
        raise
    streaming = upstream.header("content-type").startswith("text/event-stream")
    if streaming:
        return StreamingResponse(
            _relay(upstream, services, request_scope, user_text),
            status_code=upstream.status_code,
            headers=_response_headers(upstream, memory_headers, stream=True),
        )
    try:
        content = await upstream.read()
    except UpstreamBrokeOff as exc:  # headers came, then the body stalled or broke off
        remember(services, request_scope, user_text, "")
        if exc.timed_out:
            raise UpstreamTimeout(str(exc)) from exc
        raise UpstreamUnreachable(str(exc)) from exc
    finally:
        upstream.close()
    answer = ""
    if upstream.status_code < 300 and remembers(services, request_scope):
        try:
            answer = answer_of(json.loads(content))
        except ValueError:
            answer = ""
    remember(services, request_scope, user_text, answer)
    return Response(
        content=content,
        status_code=upstream.status_code,
        headers=_response_headers(upstream, memory_headers, stream=False),
    )


def _response_headers(
    upstream: UpstreamResponse, memory_headers: dict[str, str], *, stream: bool
) -> dict[str, str]:
    headers = dict(response_headers(upstream.headers))
    if stream:
        headers |= {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return headers | memory_headers


async def _relay(
    upstream: UpstreamResponse, services: Services, request_scope: RequestScope, user_text: str
):
    """Pass the stream on chunk by chunk, and assemble the answer on the side (the tee). The turn
    is queued when the stream ends for any reason, including a client that hung up."""
    answer = AnswerAssembler()
    try:
        async for chunk in upstream.chunks():
            answer.feed(chunk)
            yield chunk
        if upstream.status_code == 200 and not answer.done and answer.error is None:
            # A cut stream must not look complete: the SDKs raise on an error event.
            yield stream_error_event(
                "the upstream ended the stream without [DONE]", "upstream_stream_incomplete"
            )
    except UpstreamBrokeOff as exc:
        log.warning("upstream stream broke off: %s", exc)
        yield stream_error_event(str(exc), "upstream_stream_error")
    finally:
        remember(services, request_scope, user_text, answer.text)
        upstream.close()
