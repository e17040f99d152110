"""Every other path under /v1/ goes to the upstream untouched: method, query (less our `user_id`),
body, headers, and the response streamed back as it arrives. Anthropic's calls (everything under
/v1/messages/, and any call with an `anthropic-version` header) go to the Anthropic upstream. The
path is the one the client sent, checked to stay under the upstream's base path
(proxy/core/forward_path.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from proxy.core.anthropic import is_anthropic_call
from proxy.core.errors import UpstreamBrokeOff
from proxy.core.forward_path import upstream_path
from proxy.core.paths import forwarded_query
from proxy.deps import ServicesDep
from proxy.upstream import UpstreamResponse, response_headers

__all__ = ["METHODS", "passthrough", "router"]

router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/v1/{path:path}", methods=METHODS, include_in_schema=False)
async def passthrough(request: Request, services: ServicesDep) -> StreamingResponse:
    # The raw bytes, not the decoded `path` parameter: "%2e%2e" must not become ".." upstream.
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    path = upstream_path(raw_path.decode("latin-1"))
    has_body = (
        request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    )
    if is_anthropic_call(request.url.path, request.headers):
        upstream, path = services.anthropic, f"v1/{path}"  # its base URL has no /v1
    else:
        upstream = services.upstream
    answer = await upstream.open(
        request.method,
        path,
        forwarded_query(request.url.query),
        upstream.request_headers(request.headers, keep_length=True),
        request.stream() if has_body else None,
    )
    return StreamingResponse(
        _relay(answer), status_code=answer.status_code, headers=response_headers(answer.headers)
    )


async def _relay(upstream: UpstreamResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.chunks():
            yield chunk
    except UpstreamBrokeOff:
        pass  # the client sees a truncated body, as it would from the upstream itself
    finally:
        upstream.close()
