"""The parts a request needs, built once in the app's lifespan and handed to routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from proxy.core.conversations import ConversationBlocks
from proxy.core.inject import frame_costs
from proxy.core.routing import RouteTable
from proxy.memory.recall.compose import Budgets
from proxy.memory.service import MemoryService, RecallPlan
from proxy.memory.write.pipeline import ExtractionStats
from proxy.memory.write.writer import WriteBack
from proxy.observe.injections import InjectionLog
from proxy.observe.metrics import Metrics
from proxy.settings import RouteSettings, Settings
from proxy.upstream import Upstream

__all__ = ["Services", "ServicesDep", "get_services", "recall_plan"]


def recall_plan(settings: Settings) -> RecallPlan:
    """How a block is filled, from the settings (each block's frame costed once it holds a line)."""
    retrieval = settings.retrieval
    profile_frame, dated_frame, beside = frame_costs(settings.inject.placement)
    return RecallPlan(
        budgets=Budgets(
            total=retrieval.token_budget,
            profile=retrieval.profile_budget,
            session=retrieval.session_budget,
            recent=retrieval.recent_budget,
            profile_frame=profile_frame,
            dated_frame=dated_frame,
            dated_frame_after_profile=beside,
        ),
        recent_items=retrieval.recent_items,
        recent_window=timedelta(hours=retrieval.recent_hours),
        session_items=retrieval.session_items,
    )


@dataclass
class Services:
    settings: Settings
    upstream: Upstream  # the OpenAI-compatible API
    anthropic: Upstream  # the Anthropic-compatible API (/v1/messages)
    memory: MemoryService | None  # None when the store could not be opened: memory fails open
    writer: WriteBack | None
    memory_error: str | None = None
    extraction: ExtractionStats = field(default_factory=ExtractionStats)
    row_format: int | None = None  # the store's row format once checked (None: not yet)
    # Models served through litellm; empty: every call goes to the upstream.
    routes: RouteTable[RouteSettings] = field(default_factory=lambda: RouteTable([]))
    # litellm imported in the background at start (when routes or LLM extraction need it); a
    # routed call waits for it here instead of blocking the event loop on the import.
    litellm_ready: asyncio.Future[None] | None = None
    metrics: Metrics | None = None  # None: observability.metrics is off
    injections: InjectionLog | None = None  # None: off, or its database could not be opened
    mcp_state: Callable[[], str] = lambda: "off"  # the /mcp endpoint's (proxy/mcp/route.py)
    recall_plan: RecallPlan = field(init=False)
    conversations: ConversationBlocks = field(init=False)

    def __post_init__(self) -> None:
        self.recall_plan = recall_plan(self.settings)
        self.conversations = ConversationBlocks(self.settings.inject.conversations)


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hop
    # on every request (measured: ~7% of the proxy's CPU with memory off).
    services: Services = request.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
