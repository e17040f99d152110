"""GET /v1/models and /v1/models/{id}: the upstream's models with the routed ones beside them.

Without a route that names a model, both are plain pass-through (the upstream's bytes). With
routes, the upstream's list is merged with the routed models (a routed name replaces the
upstream's entry of the same id: chat calls for it go to the route); when the upstream cannot
list (unreachable, an error status, not a list), the routed models are still listed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from proxy.core.anthropic import is_anthropic_call
from proxy.core.errors import ProxyError, UpstreamBrokeOff
from proxy.core.paths import forwarded_query
from proxy.core.routing import provider_of
from proxy.deps import Services, ServicesDep
from proxy.http import passthrough
from proxy.upstream import response_headers

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter()


def _model(services: Services, name: str) -> dict[str, Any]:
    match = services.routes.match(name)
    owner = provider_of(match.litellm_model) if match else None
    return {"id": name, "object": "model", "created": 0, "owned_by": owner or "memory-proxy"}


@router.get("/v1/models", include_in_schema=False)
async def list_models(request: Request, services: ServicesDep) -> Response:
    names = services.routes.names()
    if not names or is_anthropic_call(request.url.path, request.headers):
        # Anthropic's SDK lists the Anthropic upstream's models, in its own format.
        return await passthrough.passthrough(request, services)
    listing, headers = await _upstream_listing(request, services)
    data = [
        m for m in listing.get("data", []) if not (isinstance(m, dict) and m.get("id") in names)
    ]
    data += [_model(services, name) for name in names]
    return JSONResponse({**listing, "object": "list", "data": data}, headers=headers)


@router.get("/v1/models/{model:path}", include_in_schema=False)
async def get_model(model: str, request: Request, services: ServicesDep) -> Response:
    if model in services.routes.names() and not is_anthropic_call(
        request.url.path, request.headers
    ):
        return JSONResponse(_model(services, model))
    return await passthrough.passthrough(request, services)


async def _upstream_listing(
    request: Request, services: Services
) -> tuple[dict[str, Any], dict[str, str]]:
    """The upstream's list and its headers, or an empty list if it has none to give."""
    headers = services.upstream.request_headers(request.headers)
    try:
        upstream = await services.upstream.open(
            "GET", "models", forwarded_query(request.url.query), headers, None
        )
    except ProxyError as exc:
        log.info("the upstream could not list its models (%s); listing the routed ones", exc)
        return {}, {}
    try:
        content = await upstream.read()
    except UpstreamBrokeOff:
        return {}, {}
    finally:
        upstream.close()
    try:
        listing = json.loads(content) if upstream.status_code == 200 else None
    except ValueError:
        listing = None
    if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
        log.info(
            "the upstream answered /models with %d; listing the routed ones", upstream.status_code
        )
        return {}, {}
    kept = {
        k: v
        for k, v in response_headers(upstream.headers).items()
        if k.lower() not in ("content-type", "content-length")
    }
    return listing, kept
