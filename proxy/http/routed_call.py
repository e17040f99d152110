"""What the routed chat and Responses paths share: waiting for litellm's warm-up, calling the
provider (the user's words written back even when the call fails), the headers of a stream,
and the write of a stream that ended early."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.responses import JSONResponse

from proxy.core.errors import ProxyError
from proxy.deps import Services
from proxy.http.forward import NOT_PERSISTED, Turn, remember_turn
from proxy.http.turn import persisting
from proxy.providers.completion import ProviderStream, complete, open_stream

__all__ = ["answer_json", "call_provider", "remember_shielded", "stream_memory_headers"]


async def call_provider(
    services: Services,
    turn: Turn,
    arguments: dict[str, Any],
    *,
    stream: bool,
    provider: str,
    method: str = "acompletion",
) -> ProviderStream | dict[str, Any]:
    """The opened stream, or the whole answer. A failure is raised with the turn's memory
    headers (as an upstream's error carries them), once what the user said is in the outbox."""
    ready = services.litellm_ready
    if ready is not None and not ready.done():
        with contextlib.suppress(Exception):  # a failed warm-up: the call itself will say why
            await asyncio.shield(ready)
    try:
        if stream:
            return await open_stream(arguments, provider, method)
        return await complete(arguments, provider, method)
    except ProxyError as exc:
        await remember_turn(services, turn, "")  # what the user said is kept regardless
        exc.headers = {**turn.recall.headers, **exc.headers}
        raise


async def answer_json(
    services: Services, turn: Turn, content: dict[str, Any], answer: str
) -> JSONResponse:
    """A whole answer in the client's format, its turn written first: the memory headers say
    error if the outbox could not take it."""
    headers = turn.recall.headers
    if not await remember_turn(services, turn, answer):
        headers = headers | NOT_PERSISTED
    return JSONResponse(content, headers=headers)


def stream_memory_headers(services: Services, turn: Turn) -> dict[str, str]:
    """A stream's headers go out before its turn is written: they say error while the outbox
    refuses writes."""
    headers = turn.recall.headers
    return headers if persisting(services, turn.request_scope) else headers | NOT_PERSISTED


async def remember_shielded(services: Services, turn: Turn, answer: str) -> None:
    """The write of a stream that ended otherwise (an error, a client that hung up): shielded,
    since a client that hung up cancels the generator, not the write."""
    await asyncio.shield(asyncio.ensure_future(remember_turn(services, turn, answer)))
