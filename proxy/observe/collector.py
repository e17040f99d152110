"""Metrics read at scrape time from what the parts already count: the writer's outcomes and
backlog, extraction calls, store outages, the index cache, the injection log. Nothing of this
costs a request anything."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from proxy import __version__
from proxy.deps import Services
from proxy.observe.metrics import PREFIX

__all__ = ["ServicesCollector"]

# WriterStats fields that are outcomes of an accepted (or refused) turn.
WRITE_OUTCOMES = (
    "accepted",
    "processed",
    "failed_attempts",
    "parked",
    "unreadable",
    "redacted",
    "clipped",
    "refused_backlog_full",
)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


class ServicesCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "the running version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield _gauge(
            "memory_up",
            "1 while the memory store is open; 0: serving without memory (fail open)",
            1 if services.memory is not None else 0,
        )
        if services.memory is not None:
            cache = services.memory.cache_stats()
            yield _gauge("index_cache_users", "users held in process for search", cache["users"])
            yield _gauge(
                "index_cache_memories", "memories held in process for search", cache["memories"]
            )
            yield _gauge(
                "index_cache_max_memories", "retrieval.cache_memories", cache["max_memories"]
            )
        yield from self._writer()
        yield from self._extraction()
        yield from self._injection_log()

    def _writer(self) -> Iterator[Metric]:
        writer = self._services.writer
        if writer is None:
            return
        backlog = GaugeMetricFamily(
            f"{PREFIX}_write_backlog",
            "turns in the outbox by state: pending (not yet stored), failed (parked)",
            labels=["state"],
        )
        counts = self._services.metrics.backlog if self._services.metrics is not None else {}
        for state, count in sorted(counts.items()):
            backlog.add_metric([state], count)
        yield backlog
        writes = CounterMetricFamily(
            f"{PREFIX}_writes",
            "turns by write outcome: accepted into the outbox, processed into memories, failed"
            " attempts, parked after too many, unreadable rows, redacted, clipped, refused"
            " with the backlog full",
            labels=["outcome"],
        )
        stats = writer.stats
        for outcome in WRITE_OUTCOMES:
            writes.add_metric([outcome], getattr(stats, outcome))
        yield writes
        yield _counter(
            "store_outages",
            "rounds in which the writer found the memory store unavailable",
            stats.store_outages,
        )
        yield _counter(
            "writer_restarts", "times the memory writer was restarted", stats.worker_restarts
        )
        current = GaugeMetricFamily(
            f"{PREFIX}_writer_state", "1 for the writer's current state", labels=["state"]
        )
        current.add_metric([writer.state()], 1)
        yield current

    def _extraction(self) -> Iterator[Metric]:
        stats = self._services.extraction
        yield _counter("extraction_calls", "calls to the LLM extractor", stats.llm_calls)
        failures = CounterMetricFamily(
            f"{PREFIX}_extraction_failures",
            "LLM extractor calls that failed (call) or gave an unreadable answer (parse)",
            labels=["reason"],
        )
        failures.add_metric(["call"], stats.llm_call_failures)
        failures.add_metric(["parse"], stats.llm_parse_failures)
        yield failures
        yield _counter(
            "extraction_offline_fallbacks",
            "turns the offline rules extracted because the LLM extractor gave no answer",
            stats.offline_fallbacks,
        )

    def _injection_log(self) -> Iterator[Metric]:
        injections = self._services.injections
        if injections is None:
            return
        entries = CounterMetricFamily(
            f"{PREFIX}_injection_log_entries",
            "injection log entries recorded, stored, dropped (disk trouble) and pruned",
            labels=["outcome"],
        )
        stats = injections.stats
        for outcome in ("recorded", "stored", "dropped", "pruned"):
            entries.add_metric([outcome], getattr(stats, outcome))
        yield entries
        yield _gauge("injection_log_rows", "entries in the injection log", injections.rows)
        yield _gauge(
            "injection_log_pending", "entries recorded and not yet stored", injections.pending
        )
