"""The forwarding step of a Responses API call whose model a route serves: `litellm.aresponses`
(which turns it into the provider's chat call) instead of the upstream, OpenAI's `response`
object or event stream back, and the turn written back as on the upstream path. Everything
before this step (scope, memory read, placement in `instructions` and the input) is
responses.py's, shared by both paths."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from proxy.core.errors import ProxyError
from proxy.core.responses import ResponsesAnswer, answer_of
from proxy.core.responses_args import responses_call
from proxy.core.responses_shape import EventShaper, response_body
from proxy.core.routing import RouteMatch, chat_model, provider_of
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
    """`body` carries `instructions` and `input` with memory already placed."""
    turn = paying(services, request, turn)
    route = match.route
    model = chat_model(match.litellm_model)
    provider = provider_of(model) or "the provider"
    call = responses_call(
        body,
        litellm_model=model,
        params=route.params,
        api_base=route.api_base,
        api_key=secret(route.api_key) or client_key(request.headers),
        timeout_s=route.timeout_s,
    )
    if call.dropped:
        log.debug("routed response from %s: not forwarded: %s", model, ", ".join(call.dropped))
    requested = str(body["model"])
    result = await call_provider(
        services, turn, call.arguments, stream=call.stream, provider=provider, method="aresponses"
    )
    if not isinstance(result, ProviderStream):
        content = response_body(result, requested)
        return await answer_json(services, turn, content, answer_of(content))
    return StreamingResponse(
        _relay(result, EventShaper(requested), services, turn),
        media_type="text/event-stream",
        headers=STREAM_HEADERS | stream_memory_headers(services, turn),
    )


async def _relay(
    stream: ProviderStream, shaper: EventShaper, services: Services, turn: Turn
) -> AsyncIterator[bytes]:
    """The events as litellm's arrive, numbered; the answer read from them as the upstream
    path reads it (ResponsesAnswer), and the turn in the outbox before the event that ends the
    stream goes out; a provider failure after the 200 is an `error` event."""
    answer = ResponsesAnswer()
    remembered = False
    try:
        async for raw in stream.chunks():
            event = shaper.event(raw)
            answer.feed(event)
            if answer.done and not remembered:
                remembered = True
                await remember_turn(services, turn, answer.text)
            yield event
    except ProxyError as exc:
        log.warning("routed response stream broke off: %s", exc.message)
        yield answer.error_event(exc.message, exc.code or "provider_stream_error")
    finally:
        await stream.close()
        if not remembered:
            await remember_shielded(services, turn, answer.text)
