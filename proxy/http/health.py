"""GET /healthz: liveness plus the state of memory and the write backlog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from proxy.deps import ServicesDep

__all__ = ["healthz", "router"]

router = APIRouter()


@router.get("/healthz", tags=["health"])
async def healthz(services: ServicesDep) -> dict[str, Any]:
    memory: dict[str, Any] = {"status": "ok" if services.memory else "error"}
    if services.memory_error:
        memory["error"] = services.memory_error
    if services.memory is not None:
        if not services.memory.store.present():  # its folder was moved or deleted under us
            memory["status"] = "store_unavailable"
        memory["index_cache"] = services.memory.cache_stats()
        memory["row_format"] = services.row_format
        model = services.memory.multilingual
        memory["multilingual"] = (
            "off" if model is None else ("loaded" if getattr(model, "loaded", True) else "idle")
        )
    if services.writer is not None:
        memory["writer"] = services.writer.state()
        memory["backlog"] = await services.writer.backlog()
        memory["writes"] = vars(services.writer.stats)
        memory["extraction"] = vars(services.extraction)
    # Chats are served either way (memory fails open): "degraded" says memory is not working.
    healthy = memory["status"] == "ok" and memory.get("writer") == "ok"
    status = "ok" if healthy else "degraded"
    return {"status": status, "memory": memory, "mcp": services.mcp_state()}
