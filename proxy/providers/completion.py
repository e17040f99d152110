"""A routed call through litellm (`acompletion` for chat, `aresponses` for the Responses API):
one answer, or a stream whose first chunk has arrived. litellm's exceptions are translated
here, once, into ProviderError.

A stream is read up to its first chunk before the proxy answers: for some providers (Gemini)
litellm returns the stream object before the HTTP status is known and raises the provider's
429 or 503 only on the first read. Read first, that error can still be a status and an envelope
instead of a 200 followed by an error event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from proxy.core.errors import ProviderError, ProxyError
from proxy.core.provider_errors import Failure, provider_error
from proxy.llm import litellm

__all__ = ["ProviderStream", "complete", "open_stream", "translate"]


async def complete(
    arguments: dict[str, Any], provider: str, method: str = "acompletion"
) -> dict[str, Any]:
    """The whole answer, as the `model_dump()` of litellm's response object."""
    try:
        response = await getattr(litellm(), method)(**arguments)
        return dict(response.model_dump())
    except Exception as exc:
        raise translate(exc, provider) from exc


class ProviderStream:
    """litellm's stream, its first chunk already read. Iterate `chunks()`, then `close()`."""

    def __init__(self, stream: Any, first: dict[str, Any] | None, provider: str) -> None:
        self._stream = stream
        self._first = first
        self._provider = provider

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """Chunks as litellm's `model_dump()`s; a failure mid-stream raises ProviderError."""
        if self._first is None:
            return
        yield self._first
        try:
            async for chunk in self._stream:
                yield dict(chunk.model_dump())
        except Exception as exc:
            raise translate(exc, self._provider) from exc

    async def close(self) -> None:
        """Close the provider's connection (a client that hung up cancels the provider's call)."""
        with contextlib.suppress(Exception):
            await self._stream.aclose()


async def open_stream(
    arguments: dict[str, Any], provider: str, method: str = "acompletion"
) -> ProviderStream:
    try:
        stream = await getattr(litellm(), method)(**arguments)
    except Exception as exc:
        raise translate(exc, provider) from exc
    try:
        first = await anext(aiter(stream))
    except StopAsyncIteration:
        return ProviderStream(stream, None, provider)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await stream.aclose()
        if isinstance(exc, Exception):
            raise translate(exc, provider) from exc
        raise
    return ProviderStream(stream, dict(first.model_dump()), provider)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def translate(exc: Exception, provider: str) -> ProxyError:
    """litellm's exception as our error with the provider's status (proxy/core/provider_errors)."""
    if isinstance(exc, ProxyError):
        return exc
    module = litellm()
    # A stream's failure comes wrapped ("MidStreamFallbackError"): what the provider said is
    # the original exception.
    original = getattr(exc, "original_exception", None)
    if isinstance(original, Exception):
        exc = original
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        # Not litellm's own: it failed translating the request for the provider.
        return ProviderError(
            f"the request could not be translated for {provider}: {type(exc).__name__}: {exc}"[
                :1000
            ],
            status=400,
            type_="invalid_request_error",
            code="untranslatable_request",
            headers={"x-should-retry": "false"},
        )
    raw_headers = getattr(exc, "litellm_response_headers", None)
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()} if raw_headers else None
    failure = Failure(
        status=status,
        message=str(getattr(exc, "message", exc)),
        headers=headers,
        timed_out=isinstance(exc, module.Timeout),
        unreachable=any(isinstance(e, ConnectionError | OSError) for e in _chain(exc))
        or any(type(e).__name__ in ("ConnectError", "ClientConnectorError") for e in _chain(exc)),
    )
    return provider_error(failure, provider)
