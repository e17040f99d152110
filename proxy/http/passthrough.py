"""Every other path under /v1/ goes to the upstream untouched: method, query, body, headers,
and the response streamed back as it arrives."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from proxy.core.errors import UpstreamBrokeOff
from proxy.deps import ServicesDep
from proxy.upstream import UpstreamResponse, response_headers

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


async def _relay(upstream: UpstreamResponse):
    try:
        async for chunk in upstream.chunks():
            yield chunk
    except UpstreamBrokeOff:
        pass  # the client sees a truncated body, as it would from the upstream itself
    finally:
        upstream.close()
