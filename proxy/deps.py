"""The parts a request needs, built once in the app's lifespan and handed to routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from proxy.memory.service import MemoryService
from proxy.memory.write.pipeline import ExtractionStats
from proxy.memory.write.writer import WriteBack
from proxy.settings import Settings
from proxy.upstream import Upstream


@dataclass
class Services:
    settings: Settings
    upstream: Upstream
    memory: MemoryService | None  # None when the store could not be opened: memory fails open
    writer: WriteBack | None
    memory_error: str | None = None
    extraction: ExtractionStats = field(default_factory=ExtractionStats)


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hop
    # on every request (measured: ~7% of the proxy's CPU with memory off).
    services: Services = request.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
