"""The forwarding step of a chat call whose model a route serves: litellm instead of the
upstream, OpenAI's wire format back (a JSON body, or SSE chunks ending in `[DONE]`), and the
turn written back exactly as on the upstream path. Everything before this step (scope, memory
read, injection) is chat.py's, shared by both paths."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from proxy.core.completion_args import completion_call
from proxy.core.errors import ProxyError
from proxy.core.openai_shape import StreamShaper, completion_body, sse_event
from proxy.core.routing import RouteMatch, chat_model, provider_of
from proxy.core.sse import answer_of, stream_error_event
from proxy.deps import Services
from proxy.http.forward import (
    STREAM_HEADERS,
    Turn,
    client_key,
    paying,
    remember_turn,
)
from proxy.http.routed_call import (
    answer_json,
    call_provider,
    remember_shielded,
    stream_memory_headers,
)
from proxy.providers.completion import ProviderStream
from proxy.settings import RouteSettings, secret

__all__ = ["forward"]

log = logging.getLogger(__name__)


async def forward(
    services: Services,
    request: Request,
    turn: Turn,
    body: dict[str, Any],
    match: RouteMatch[RouteSettings],
) -> Response:
    """`body` carries the messages with memory already placed. The route's key pays for the
    call, or, if it has none, the client's own."""
    turn = paying(services, request, turn)
    route = match.route
    model = chat_model(match.litellm_model)
    provider = provider_of(model) or "the provider"
    call = completion_call(
        body,
        body["messages"],
        litellm_model=model,
        params=route.params,
        api_base=route.api_base,
        api_key=secret(route.api_key) or client_key(request.headers),
        timeout_s=route.timeout_s,
    )
    if call.dropped:
        log.debug("routed call to %s: not forwarded: %s", model, ", ".join(call.dropped))
    requested = str(body["model"])
    created = int(time.time())
    result = await call_provider(
        services, turn, call.arguments, stream=call.stream, provider=provider
    )
    if not isinstance(result, ProviderStream):
        content = completion_body(result, requested, created)
        return await answer_json(services, turn, content, answer_of(content))
    shaper = StreamShaper(requested, created, call.include_usage)
    return StreamingResponse(
        _relay(result, shaper, services, turn),
        media_type="text/event-stream",
        headers=STREAM_HEADERS | stream_memory_headers(services, turn),
    )


async def _relay(
    stream: ProviderStream, shaper: StreamShaper, services: Services, turn: Turn
) -> AsyncIterator[bytes]:
    """OpenAI chunks as litellm's arrive, then the usage chunk and `[DONE]`; a provider failure
    after the 200 is an SSE error event (the SDKs raise it). As on the upstream path, the turn is
    in the outbox before `[DONE]` goes out, or, for a stream that ends otherwise (an error, a
    client that hung up), as it ends."""
    remembered = False
    try:
        async for raw in stream.chunks():
            for chunk in shaper.feed(raw):
                yield sse_event(chunk)
        for chunk in shaper.finish():
            yield sse_event(chunk)
        remembered = True
        await remember_turn(services, turn, shaper.text)
        yield b"data: [DONE]\n\n"
    except ProxyError as exc:
        log.warning("routed stream broke off: %s", exc.message)
        yield stream_error_event(exc.message, exc.code or "provider_stream_error")
    finally:
        await stream.close()
        if not remembered:
            await remember_shielded(services, turn, shaper.text)
