"""GET /metrics: Prometheus text format (prometheus-client). Open like /healthz: it holds counts
and latencies, never a user id or memory text."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from proxy.core.errors import NotFound
from proxy.deps import ServicesDep

__all__ = ["prometheus_metrics", "router"]

router = APIRouter()


@router.get("/metrics", tags=["health"], response_class=Response)
async def prometheus_metrics(services: ServicesDep) -> Response:
    if services.metrics is None:
        raise NotFound("metrics are off (observability.metrics)", code="metrics_off")
    if services.writer is not None:
        services.metrics.backlog = await services.writer.backlog()
    # In a thread: the process collector reads /proc, and the text is built in pure Python.
    body = await asyncio.to_thread(generate_latest, services.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
