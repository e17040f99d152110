"""Prometheus metrics counted on the request path: requests, retrieval latency, injected tokens.

One registry per app (tests run several apps in one process). Label values come from a closed
set: route templates, known methods, status codes, memory statuses and tiers; never a user id,
a raw path or anything else a client chooses. Counting is a dict lookup and an increment.
What the writer, the extractor and the index already count is read at scrape time instead
(proxy/observe/collector.py).
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

__all__ = ["Metrics", "RecallLike"]

PREFIX = "memory_proxy"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
NO_MEMORY = "n/a"  # the memory label of a request that never consulted memory

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
TOKEN_BUCKETS = (0, 50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200)


class RecallLike(Protocol):
    """What metrics read of `proxy.http.turn.Recall`."""

    @property
    def status(self) -> str: ...
    @property
    def injected(self) -> dict[str, list[str]]: ...
    @property
    def tokens(self) -> int: ...
    @property
    def elapsed_ms(self) -> float: ...
    @property
    def carried(self) -> frozenset[str]: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_resident_memory_bytes, CPU seconds, open fds (read from /proc at scrape).
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests answered, by route template, method, status code and memory status"
            " (X-Memory-Status; n/a where memory was not consulted)",
            ["route", "method", "status", "memory"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "time from a request's arrival to the end of its response (streams included)",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.retrieval_seconds = Histogram(
            f"{PREFIX}_retrieval_seconds",
            "time memory retrieval took, per call that searched a user's memories",
            buckets=RETRIEVAL_BUCKETS,
            registry=self.registry,
        )
        self.injected_tokens = Histogram(
            f"{PREFIX}_injected_tokens",
            "estimated tokens of memory added to a call, per call that searched",
            buckets=TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.injected_memories = Counter(
            f"{PREFIX}_injected_memories",
            "memories injected into calls, by tier",
            ["tier"],
            registry=self.registry,
        )
        # The outbox's counts by state, read (off the loop) by /metrics just before a scrape.
        self.backlog: dict[str, int] = {}
        # Children by label values: `labels()` takes a lock and builds a key on every call.
        self._requests: dict[tuple[str, str, str, str], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self._tiers: dict[str, Counter] = {}

    def request_done(
        self, route: str, method: str, status: int, memory: str | None, seconds: float
    ) -> None:
        method = method if method in METHODS else "other"
        key = (route, method, str(status), memory or NO_MEMORY)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(*key)
        child.inc()
        duration = self._durations.get(route)
        if duration is None:
            duration = self._durations[route] = self.request_seconds.labels(route)
        duration.observe(seconds)

    def recalled(self, result: RecallLike) -> None:
        if result.status not in ("injected", "none"):
            return  # no user, memory off or failed: nothing was searched
        if result.carried and not result.injected and not result.elapsed_ms:
            return  # a retry of the conversation's last request: its blocks again, no search
        self.retrieval_seconds.observe(result.elapsed_ms / 1000)
        self.injected_tokens.observe(result.tokens)
        for tier, ids in result.injected.items():
            child = self._tiers.get(tier)
            if child is None:
                child = self._tiers[tier] = self.injected_memories.labels(tier)
            child.inc(len(ids))
