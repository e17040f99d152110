"""The FastAPI app: routes, error rendering, and a lifespan that builds and closes every part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Route

from proxy import __version__
from proxy.core.anthropic import is_anthropic_call
from proxy.core.errors import (
    InvalidRequest,
    MemoryUnavailable,
    ProxyError,
    anthropic_error_response,
    error_response,
)
from proxy.core.routing import CallTarget, RouteTable
from proxy.deps import Services
from proxy.http import chat, health, messages, models, passthrough, responses, ui
from proxy.http import metrics as metrics_route
from proxy.http.auth import warn_if_open
from proxy.http.base_url import UserBaseUrl
from proxy.http.guard import RequestGuard
from proxy.http.memories import routes as memories
from proxy.mcp.route import McpRoute
from proxy.memory.embed.base import Embedder, create_embedder
from proxy.memory.embed.e5 import E5Embedder
from proxy.memory.extract.llm import LlmExtractor
from proxy.memory.recall.retrieval import SelectionParams, multilingual_selection
from proxy.memory.service import MemoryService
from proxy.memory.storage.chroma import ChromaStore
from proxy.memory.storage.history import History
from proxy.memory.storage.injections import InjectionStore
from proxy.memory.storage.migrations import ROW_FORMAT, migrate
from proxy.memory.write.outbox import Outbox
from proxy.memory.write.pipeline import ExtractionStats, llm_processor, offline_processor
from proxy.memory.write.writer import ProcessTurn, WriteBack
from proxy.memtrim import release_free_memory
from proxy.observe.collector import ServicesCollector
from proxy.observe.injections import InjectionLog
from proxy.observe.metrics import Metrics
from proxy.observe.middleware import ObserveMiddleware
from proxy.providers.setup import (
    embedding_target,
    extraction_target,
    needs_litellm,
    upstream_warnings,
    warm_up,
)
from proxy.settings import RouteSettings, Settings, secret
from proxy.upstream import Upstream, create_session

if TYPE_CHECKING:
    from proxy.mcp.http import McpEndpoint

__all__ = ["build_mcp", "build_memory", "build_processor", "create_app"]

log = logging.getLogger(__name__)


def build_memory(
    settings: Settings,
    embedder: Embedder | None,
    routes: RouteTable[RouteSettings] | None = None,
) -> MemoryService:
    """`routes`: where an embedding model named by a route is served (default: the settings')."""
    routes = routes if routes is not None else RouteTable(settings.routes)
    retrieval = settings.retrieval
    model = embedder or create_embedder(
        settings.embedder,
        threads=settings.embed_threads,
        target=embedding_target(settings, routes),
        label=settings.embedding_model,
    )
    multilingual = E5Embedder(threads=1) if settings.multilingual == "auto" else None
    return MemoryService(
        store=ChromaStore.connect(settings.data_dir, settings.chroma_url, model.name),
        multilingual=multilingual,
        multilingual_selection=multilingual_selection(retrieval.top_k),
        embedder=model,
        history=History(settings.data_dir / "history.sqlite3"),
        selection=SelectionParams(top_k=retrieval.top_k, min_similarity=retrieval.min_similarity),
        candidates=retrieval.candidates,
        dedup_similarity=settings.write.dedup_similarity,
        refresh_s=retrieval.shared_store_refresh_s if settings.chroma_url else None,
        cache_memories=retrieval.cache_memories,
    )


def build_processor(
    settings: Settings,
    memory: MemoryService,
    stats: ExtractionStats,
    target: CallTarget | None,
) -> ProcessTurn:
    ttl = settings.write.default_ttl_days
    config = settings.extraction
    if target is None:
        return offline_processor(memory, stats, ttl)
    extractor = LlmExtractor(target, timeout_s=config.timeout_s)
    log.info("memory extraction by %s via %s (offline rules as fallback)", target.model, target.via)
    return llm_processor(
        memory, extractor, stats, ttl, config.max_existing, use_client_key=config.use_client_key
    )


def build_mcp(settings: Settings, services: Services) -> McpEndpoint:
    """Imports the MCP SDK (slow: run it in a worker thread)."""
    from proxy.mcp.http import McpEndpoint

    return McpEndpoint(settings, lambda: services.memory)


async def open_injection_log(settings: Settings) -> InjectionLog | None:
    """The injection log, or None when it is off or its database cannot be opened (calls go
    on without it)."""
    config = settings.observability
    if not config.injection_log:
        return None
    try:
        store = await asyncio.to_thread(InjectionStore, settings.data_dir / "injections.sqlite3")
    except (MemoryUnavailable, OSError) as exc:
        log.error("the injection log is unavailable, serving without it: %s", exc)
        return None
    injections = InjectionLog(
        store, days=config.injection_log_days, max_rows=config.injection_log_max_rows
    )
    injections.start()
    return injections


def create_app(settings: Settings, embedder: Embedder | None = None) -> FastAPI:
    """Build the app. `embedder` lets a caller share one loaded model between apps."""
    mcp_route = McpRoute(settings.mcp_enabled)
    metrics = Metrics() if settings.observability.metrics else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        warn_if_open(settings)
        routes = RouteTable(settings.routes)
        extraction = extraction_target(settings, routes)
        for warning in upstream_warnings(settings, extraction):
            log.warning(warning)
        session = create_session(
            settings.upstream_connect_timeout_s,
            settings.upstream_timeout_s,
            settings.max_connections,
        )
        services = Services(
            settings=settings,
            upstream=Upstream(session, settings.upstream_url, secret(settings.upstream_api_key)),
            anthropic=Upstream(
                session,
                settings.anthropic_upstream_url,
                secret(settings.anthropic_api_key),
                auth="x-api-key",
            ),
            memory=None,
            writer=None,
            routes=routes,
            metrics=metrics,
        )
        if metrics is not None:
            metrics.registry.register(ServicesCollector(services))
        services.injections = await open_injection_log(settings)
        if needs_litellm(settings):  # no route, no LLM extraction: litellm is never imported
            services.litellm_ready = asyncio.ensure_future(
                asyncio.to_thread(warm_up, settings, extraction)
            )
        purger: asyncio.Task[None] | None = None
        outbox: Outbox | None = None
        memory: MemoryService | None = None
        mcp = _LazyMcp(settings, services)
        services.mcp_state = mcp_route.state
        if settings.mcp_enabled:
            mcp_route.start_on_first_use(mcp.start)
        try:
            memory = await asyncio.to_thread(build_memory, settings, embedder, routes)
            await asyncio.to_thread(memory.warm_up)
            await asyncio.to_thread(release_free_memory)  # what loading left behind
            outbox = Outbox(settings.data_dir / "outbox.sqlite3")
            services.memory = memory
            services.writer = WriteBack(
                outbox,
                build_processor(settings, memory, services.extraction, extraction),
                max_attempts=settings.write.max_attempts,
                max_backlog=settings.write.max_backlog,
                batch=memory.batched_writes,
                redact_contacts=settings.write.redact_contacts,
            )
            services.writer.start()
            purger = asyncio.create_task(
                _housekeeping(services, memory, settings.retrieval.preload_users),
                name="memory-housekeeping",
            )
        except (MemoryUnavailable, OSError) as exc:
            # Fail open: without a store the proxy still forwards every call, memory off.
            services.memory_error = str(exc)
            log.error("memory is unavailable, serving without it: %s", exc)
        try:
            yield {"services": services}
        finally:
            mcp_route.start_on_first_use(None)
            await mcp.stop()
            if purger is not None:
                purger.cancel()
            if services.litellm_ready is not None:
                with contextlib.suppress(Exception):
                    await services.litellm_ready
            if services.writer is not None:
                await services.writer.stop(settings.write.drain_timeout_s)
            if memory is not None:
                memory.close()
                memory.history.close()
            if outbox is not None:
                outbox.close()
            if services.injections is not None:
                await services.injections.stop()
            await session.close()

    app = FastAPI(
        title="memory-proxy",
        version=__version__,
        summary="OpenAI-compatible proxy that gives LLM apps long-term memory",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(metrics_route.router)
    app.include_router(ui.router)
    app.include_router(memories.router)
    app.include_router(chat.router)
    app.include_router(responses.router)
    app.include_router(messages.router)
    app.include_router(models.router)
    app.router.routes.append(Route("/mcp", mcp_route, methods=["GET", "POST", "DELETE"]))
    app.include_router(passthrough.router)  # last: it matches every other /v1/ path
    # Admission (media type, origin, Host), the bytes-in-flight cap, a 500 that keeps the
    # connection: before any route, looking at headers only; inside UserBaseUrl, so it sees the
    # /v1/... path a /u/{user_id}/v1/... request is served as.
    app.add_middleware(RequestGuard, settings=settings)
    # Every request gets its id (and is counted) before admission can refuse it or anything
    # can log. Inside UserBaseUrl too: that one hands on a new scope, and the matched route
    # (the metrics' label, the injection log's route) is written into the scope seen here.
    app.add_middleware(ObserveMiddleware, metrics=metrics)
    app.add_middleware(UserBaseUrl)  # /u/{user_id}/v1/... is /v1/... for that user
    app.add_exception_handler(ProxyError, _proxy_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


class _LazyMcp:
    """The MCP endpoint, started on first use: built in a worker thread (the SDK's import is
    slow), then served by a task of its own, which enters and leaves the SDK's session manager
    (an anyio task group must be left by the task that entered it). A broken endpoint leaves
    /mcp answering 503; chat and /memories serve on."""

    def __init__(self, settings: Settings, services: Services) -> None:
        self._settings = settings
        self._services = services
        self._ready: asyncio.Future[McpEndpoint | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> McpEndpoint | None:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._serve(self._ready), name="mcp-endpoint")
        # Shielded: a client that hangs up while it starts must not cancel the start.
        return await asyncio.shield(self._ready)

    async def _serve(self, ready: asyncio.Future[McpEndpoint | None]) -> None:
        try:
            endpoint = await asyncio.to_thread(build_mcp, self._settings, self._services)
            async with endpoint.running():
                ready.set_result(endpoint)
                await self._stop.wait()
        except Exception:
            log.exception("the MCP endpoint could not start; /mcp is unavailable")
            if not ready.done():
                ready.set_result(None)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


async def _housekeeping(
    services: Services, memory: MemoryService, preload_users: int, every_s: float = 60.0
) -> None:
    """First loads the recently active users (the proxy already serves meanwhile) and brings a
    store of an earlier row format up to date. Then, every minute: expired memories, already
    invisible, are removed from disk, and heap that bursts of writes and index loads freed is
    handed back to the system."""
    try:
        started = time.perf_counter()
        users, rows = await asyncio.to_thread(memory.preload_blocking, preload_users)
        log.info(
            "preloaded %d recently active users (%d memories) in %.1f s",
            users,
            rows,
            time.perf_counter() - started,
        )
    except Exception:
        log.exception("preloading recently active users failed; they load on first use")
    if isinstance(memory.store, ChromaStore):
        try:
            await asyncio.to_thread(migrate, memory.store)
            services.row_format = ROW_FORMAT
        except Exception:
            log.exception("updating the store's row format failed; rows are read as they are")
    while True:
        try:
            purged = await asyncio.to_thread(memory.purge_expired_blocking)
            if purged:
                log.info("purged %d expired memories", purged)
        except Exception:
            log.exception("purging expired memories failed; will retry")
        await asyncio.to_thread(release_free_memory)
        await asyncio.sleep(every_s)


def _render(request: Request, exc: ProxyError) -> JSONResponse:
    """Our own errors in the envelope of the API the route speaks."""
    if is_anthropic_call(request.url.path, request.headers):
        return anthropic_error_response(exc)
    return error_response(exc)


def _error(status: int, type_: str, message: str, code: str | None) -> ProxyError:
    exc = ProxyError(message, code=code)
    exc.status, exc.type = status, type_
    return exc


async def _proxy_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProxyError)
    return _render(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    message = f"{param}: {first.get('msg', 'invalid value')}" if param else "invalid request"
    return _render(request, InvalidRequest(message, param=param))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return _render(request, _error(exc.status_code, type_, str(exc.detail), None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _render(
        request, _error(500, "server_error", "internal error in memory-proxy", "internal_error")
    )
