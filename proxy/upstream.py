"""Talking to the upstream OpenAI-compatible API: one shared client, header hygiene, and the
translation of transport failures into 502/504 (done here, once)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from proxy.errors import UpstreamTimeout, UpstreamUnreachable
from proxy.scope import OWN_HEADERS

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, never to the next hop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# What a reused keep-alive connection the server had just closed looks like, before any byte of
# a response: "Server disconnected without sending a response", or a reset.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_DROP_REQUEST = HOP_BY_HOP | OWN_HEADERS | {"host", "content-length", "accept-encoding"}
# uvicorn sets its own date/server; lengths change when we re-frame the body.
_DROP_RESPONSE = HOP_BY_HOP | {"content-length", "date", "server"}


def create_client(
    connect_timeout: float, read_timeout: float, max_connections: int
) -> httpx.AsyncClient:
    # httpx defaults (5 s, 100 connections) are wrong for LLM calls that stream for minutes.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=read_timeout),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        trust_env=False,
    )


def response_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in _DROP_RESPONSE]


class Upstream:
    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str | None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key

    def request_headers(
        self, incoming: Mapping[str, str], *, keep_length: bool = False
    ) -> dict[str, str]:
        headers = {
            k: v
            for k, v in incoming.items()
            if k.lower() not in _DROP_REQUEST or (keep_length and k.lower() == "content-length")
        }
        # Ask for plain bytes: we return upstream bytes unchanged, and parse chat answers.
        headers["accept-encoding"] = "identity"
        if "authorization" not in {k.lower() for k in headers} and self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    async def open(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        content: bytes | AsyncIterator[bytes] | None,
    ) -> httpx.Response:
        """Send and return the response with its body unread (the caller streams or reads it,
        and must close it)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        if query:
            url = f"{url}?{query}"
        request = self.client.build_request(method, url, headers=dict(headers), content=content)
        try:
            try:
                return await self.client.send(request, stream=True)
            except _DROPPED as exc:
                if not isinstance(content, bytes | None):
                    raise  # a streamed body cannot be sent twice
                # A pooled connection the upstream closed just as we reused it (its keep-alive
                # timeout ran out): no answer came back, so send once more.
                log.info("upstream dropped the connection (%s); retrying once", type(exc).__name__)
                request = self.client.build_request(
                    method, url, headers=dict(headers), content=content
                )
                return await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"the upstream did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(f"cannot reach the upstream: {type(exc).__name__}") from exc


def stream_error_event(message: str, code: str, type_: str = "upstream_error") -> bytes:
    """An error after the 200 was sent: the SDKs read it as an SSE `error` event."""
    import json

    payload: dict[str, Any] = {
        "error": {"message": message, "type": type_, "param": None, "code": code}
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"
