"""Every other path under /v1/ goes to the upstream untouched: method, query, body, headers,
and the response streamed back as it arrives."""

from __future__ import annotations

import anyio
import httpx
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from proxy.services import ServicesDep
from proxy.upstream import response_headers

router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/v1/{path:path}", methods=METHODS, include_in_schema=False)
async def passthrough(path: str, request: Request, services: ServicesDep) -> StreamingResponse:
    has_body = (
        request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    )
    upstream = await services.upstream.open(
        request.method,
        path,
        request.url.query,
        services.upstream.request_headers(request.headers, keep_length=True),
        request.stream() if has_body else None,
    )
    return StreamingResponse(
        _relay(upstream),
        status_code=upstream.status_code,
        headers=dict(response_headers(upstream.headers)),
    )


async def _relay(upstream: httpx.Response):
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError:
        pass  # the client sees a truncated body, as it would from the upstream itself
    finally:
        with anyio.CancelScope(shield=True):
            await upstream.aclose()
