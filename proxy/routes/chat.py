"""POST /v1/chat/completions: scope, retrieve, inject, forward, and write back after the answer."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from proxy.conversation import new_user_turn, query_text, validate_messages
from proxy.errors import InvalidRequest, PayloadTooLarge, UpstreamTimeout, UpstreamUnreachable
from proxy.inject import build_block, inject
from proxy.scope import RequestScope, resolve_scope
from proxy.services import Services, ServicesDep
from proxy.sse import AnswerAssembler, answer_of
from proxy.upstream import (
    UpstreamBrokeOff,
    UpstreamResponse,
    response_headers,
    stream_error_event,
)

log = logging.getLogger(__name__)
router = APIRouter()


@dataclass(frozen=True)
class Recall:
    status: str  # injected | none | off | no-user | error
    count: int
    messages: list[dict[str, Any]] | None  # None: forward the body unchanged


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


async def recall(services: Services, request_scope: RequestScope, messages: list[dict]) -> Recall:
    """Memories for this turn, or none. The one place where a memory failure degrades to
    'no memories' (fail open): the chat call never breaks because memory did."""
    scope = request_scope.scope
    if scope is None:
        return Recall("no-user", 0, None)
    if not request_scope.mode.reads:
        return Recall("off", 0, None)
    if services.memory is None:
        return Recall("error", 0, None)
    settings = services.settings.retrieval
    try:
        hits = await asyncio.wait_for(
            services.memory.search(scope, query_text(messages)), settings.timeout_ms / 1000
        )
    except TimeoutError:
        log.warning(
            "memory retrieval exceeded %.0f ms; forwarding without memory", settings.timeout_ms
        )
        return Recall("error", 0, None)
    except Exception:
        log.exception("memory retrieval failed; forwarding without memory")
        return Recall("error", 0, None)
    block, kept = build_block([hit.memory for hit in hits], settings.token_budget)
    if not kept:
        return Recall("none", 0, None)
    return Recall("injected", len(kept), inject(messages, block))


def _remembers(services: Services, request_scope: RequestScope) -> bool:
    return (
        request_scope.scope is not None
        and request_scope.mode.writes
        and services.writer is not None
    )


def remember(services: Services, request_scope: RequestScope, user_text: str, answer: str) -> None:
    """Hand the new turn to the write-back queue (persisted before the response completes)."""
    if not _remembers(services, request_scope):
        return
    assert services.writer is not None and request_scope.scope is not None
    try:
        services.writer.accept(request_scope.scope, user_text, answer, request_scope.occurred_at)
    except Exception:
        # The outbox is local SQLite; if even that fails the answer still goes out.
        log.exception("could not queue the turn for memory")


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, services: ServicesDep) -> Response:
    started = time.perf_counter()
    raw = await read_body(request, services.settings.max_body_bytes)
    body = parse_body(raw)
    messages = validate_messages(body)
    request_scope = resolve_scope(request.headers, body, request.query_params)
    result = await recall(services, request_scope, messages)
    if result.messages is not None:
        raw = encode_body({**body, "messages": result.messages})
    memory_headers = {"x-memory-status": result.status, "x-memory-count": str(result.count)}
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
    if upstream.status_code < 300 and _remembers(services, request_scope):
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
