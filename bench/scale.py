"""Store scale benchmark (docs/bench.md §3, "Scale"): search latency and resident memory with
1k memories over 100 users, and 100k and 1M memories over 10k users, on the real store layout.

The layout under test: every memory is in one of 64 chromadb collections (shards, chosen by a
hash of the user id; the durable store); a user's memories are loaded once into an in-process
`UserIndex` (exact cosine + BM25) and searched there. For comparison it also times chromadb's own
filtered query (`where={"user_id": u}`) on the user's shard: the naive layout the in-process
index replaces.

Each size runs in two fresh child processes, so one phase's memory does not inflate the next
one's figures. The first ingests random unit vectors (384-dim) and short varied texts straight
through `ChromaStore.upsert` (no embedding model: it would take an hour at 1M). The second
reopens the data dir like a restarted proxy and searches through `MemoryService.search_blocking`:

- cold: the user's index is not loaded yet (chromadb `get` with a `where` filter, row decoding,
  index build, then the search); warm: the index is cached;
- "store only": a stub embedder returns a random unit vector per query (the store's own cost);
  "with model": MiniLM on one thread embeds the query text, as the proxy does;
- then every user is loaded (resident memory with the whole store in process) and warm searches
  are timed again with the full cache; last, chromadb's filtered and unfiltered queries.

    python bench/scale.py --quick             # 1k and 100k, a few minutes
    python bench/scale.py                     # 1k, 100k and 1M (about half an hour on 2 cores)
    python bench/scale.py --sizes 1000000

Results: a table on stdout and bench/results/scale.json (rewritten after each size, so a run
cut short keeps what it measured). Data dirs live under /tmp and are removed after each size.
Vectors are random, the worst case for chromadb's HNSW; the page cache stays warm between the
two phases (a restart, not a cold boot).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import numpy as np

from bench import harness
from bench.words import NOTES, QUESTIONS, Distinct, fill
from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.memory.embed.base import TextKind
from proxy.memory.embed.minilm import MiniLMEmbedder
from proxy.memory.recall.retrieval import SelectionParams
from proxy.memory.service import MemoryService, memory_id
from proxy.memory.storage.chroma import ChromaStore
from proxy.memory.storage.history import History
from proxy.settings import RetrievalSettings

# The proxy's default in-process index size (retrieval.cache_memories): past it the least
# recently used users are evicted and load again from the store on their next request.
CACHE_ROWS = RetrievalSettings().cache_memories
DIM = 384
EMBEDDER_NAME = MiniLMEmbedder.name  # what the store records; vectors are random either way
FULL_SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 100_000)
log = harness.log


def rss_mib() -> float:
    return harness.proc_memory()["VmRSS"]


class GcWatch:
    """Pauses of Python's cyclic garbage collector: a full (gen 2) collection walks every
    object, and a million cached memories are millions of objects."""

    def __init__(self) -> None:
        self._started = 0.0
        self._pauses: list[tuple[int, float]] = []
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append((info["generation"], time.perf_counter() - self._started))

    def take(self) -> dict[str, float | int]:
        """Summary of the pauses since the last call."""
        pauses, self._pauses = self._pauses, []
        full = [s for generation, s in pauses if generation == 2]
        return {
            "collections": len(pauses),
            "full_collections": len(full),
            "full_total_ms": round(sum(full) * 1000, 1),
            "max_pause_ms": round(max((s for _, s in pauses), default=0.0) * 1000, 2),
        }


class Timings:
    """Wall-clock and process CPU seconds of repeated calls. Other processes may share the two
    cores: the CPU time is then the better estimate of a call's latency on an idle machine."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, call: Callable[[], object]) -> float:
        cpu, started = time.process_time(), time.perf_counter()
        call()
        wall = time.perf_counter() - started
        self.wall.append(wall)
        self.cpu.append(time.process_time() - cpu)
        return wall

    def summary(self) -> dict[str, float | int]:
        out = harness.latency(self.wall)
        if self.cpu:
            cpu_ms = np.asarray(self.cpu) * 1000
            for q in (50, 95, 99):
                out[f"cpu_p{q}_ms"] = round(float(np.percentile(cpu_ms, q)), 3)
        return out


def search_once(service: MemoryService, user: int, query: str, timings: Timings) -> float:
    """Seconds for one search, as the proxy runs it before a chat call."""
    return timings.run(partial(service.search_blocking, Scope(user_id(user)), query))


# --- synthetic data --------------------------------------------------------------------------


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def owners(size: int, users: int, seed: int) -> np.ndarray:
    """The user (0..users-1) of each memory, uniform at random; both phases derive it alike."""
    return np.random.default_rng([seed, 1]).integers(0, users, size)


def user_id(user: int) -> str:
    return f"user-{user:05d}"


def make_memory(position: int, owner: int, rnd: random.Random, base: datetime) -> Memory:
    when = base + timedelta(seconds=30 * position)
    return Memory(
        id=memory_id(f"scale-turn-{position // 4}", position % 4),
        text=fill(rnd.choice(NOTES), rnd),
        scope=Scope(user_id=user_id(owner), session_id=f"session-{rnd.randrange(20)}"),
        created_at=when,
        occurred_at=when,
        kind=rnd.choice(("fact", "preference", "event")),
        source=f"scale-turn-{position // 4}",
    )


class RandomQueryEmbedder:
    """The Embedder protocol without a model: a random unit vector per text, so a search
    costs only the store, the index and selection."""

    name = EMBEDDER_NAME
    dim = DIM

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 3])

    def embed(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        return unit_vectors(self._rng, len(texts))


# --- phase 1: ingest (child process) ---------------------------------------------------------


def ingest(args: argparse.Namespace, data_dir: Path, size: int, users: int) -> dict[str, Any]:
    """Store `size` memories, or as many whole batches as fit in --ingest-budget seconds."""
    batch, seed, budget_s = args.batch, args.seed, args.ingest_budget
    store = ChromaStore.connect(data_dir, None, EMBEDDER_NAME)
    owner = owners(size, users, seed)
    rng = np.random.default_rng([seed, 2])
    rnd = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    upsert = Timings()
    started = time.perf_counter()
    next_report = started + 30
    stop = 0
    for start in range(0, size, batch):
        if budget_s is not None and time.perf_counter() - started > budget_s:
            log(f"  ingest budget of {budget_s:.0f} s spent: stopping at {start:,} memories")
            break
        stop = min(size, start + batch)
        memories = [make_memory(i, int(owner[i]), rnd, base) for i in range(start, stop)]
        upsert.run(partial(store.upsert, memories, unit_vectors(rng, stop - start)))
        if time.perf_counter() > next_report:
            elapsed = time.perf_counter() - started
            log(f"  ingest {stop:,}/{size:,} in {elapsed:.0f} s ({stop / elapsed:,.0f}/s)")
            next_report += 30
    wall = time.perf_counter() - started
    stored = store.count()
    if stored != stop:
        raise RuntimeError(f"stored {stored} memories, expected {stop}")
    status = harness.proc_memory()
    return {
        "stored": stored,
        "complete": stored == size,
        "wall_s": round(wall, 2),
        "upsert_s": round(sum(upsert.wall), 2),
        "memories_per_s": round(stored / wall, 1),
        "batch": batch,
        "rss_after_mib": status["VmRSS"],
        "peak_rss_mib": status["VmHWM"],
    }


# --- phase 2: search (child process, like a restarted proxy) ---------------------------------


class LoadTimer:
    """The store as the service sees it, timing each `load_user` (chromadb `get` with a `where`
    filter + row decoding); everything else is the store's own."""

    def __init__(self, store: ChromaStore) -> None:
        self.store = store
        self.loads: list[float] = []

    def load_user(self, user_id: str) -> tuple[list[Memory], np.ndarray]:
        started = time.perf_counter()
        try:
            return self.store.load_user(user_id)
        finally:
            self.loads.append(time.perf_counter() - started)

    @property
    def on_reconnect(self) -> Callable[[], None] | None:
        return self.store.on_reconnect

    @on_reconnect.setter
    def on_reconnect(self, callback: Callable[[], None] | None) -> None:
        self.store.on_reconnect = callback

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def cold_searches(
    service: MemoryService, store: LoadTimer, users: Sequence[int], questions: Distinct
) -> dict[str, Any]:
    """One search per user whose index is not loaded yet; splits out the store's load."""
    totals = Timings()
    loads: list[float] = []
    for user in users:
        before = len(store.loads)
        search_once(service, user, questions.next(), totals)
        if len(store.loads) != before + 1:
            raise RuntimeError("a cold search did not load the user's index exactly once")
        loads.append(store.loads[-1])
    return {
        "total": totals.summary(),
        "load_user": harness.latency(loads),
        "index_build_and_search": harness.latency(
            [t - s for t, s in zip(totals.wall, loads, strict=True)]
        ),
    }


def warm_searches(
    service: MemoryService, users: Sequence[int], n: int, questions: Distinct, rnd: random.Random
) -> dict[str, Any]:
    timings = Timings()
    for _ in range(n):
        search_once(service, rnd.choice(users), questions.next(), timings)
    return timings.summary()


def search(
    args: argparse.Namespace, data_dir: Path, size: int, target: int, users: int
) -> dict[str, Any]:
    """Reopen the store like a restarted proxy, then time searches (see the module's doc)."""
    gcw = GcWatch()
    out: dict[str, Any] = {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "rss_at_start_mib": rss_mib(),
    }
    started = time.perf_counter()
    chroma = ChromaStore.connect(data_dir, None, EMBEDDER_NAME)
    store = LoadTimer(chroma)
    out["open_s"] = round(time.perf_counter() - started, 3)
    out["rss_after_open_mib"] = rss_mib()

    # The first `size` owners of the `target`-sized assignment: ingest may stop early.
    owner = owners(target, users, args.seed)[:size]
    counts = np.bincount(owner, minlength=users)
    rnd = random.Random(args.seed + 7)
    people = [int(u) for u in np.flatnonzero(counts)]
    rnd.shuffle(people)
    n_cold = min(args.cold, (len(people) - 1) // 4)
    first_user, rest = people[0], people[1:]
    raw_users, cold_store_users, cold_model_users, others = (
        rest[:n_cold],
        rest[n_cold : 2 * n_cold],
        rest[2 * n_cold : 3 * n_cold],
        rest[3 * n_cold :],
    )
    out["rows_per_user"] = {
        "mean": round(float(counts.mean()), 1),
        "min": int(counts.min()),
        "max": int(counts.max()),
    }
    questions = Distinct(QUESTIONS, args.seed + 11)
    history = History(data_dir / "history.sqlite3")
    selection = SelectionParams()
    service = MemoryService(
        store, RandomQueryEmbedder(args.seed), history, selection, cache_memories=CACHE_ROWS
    )

    log("  first search after open")
    first = search_once(service, first_user, questions.next(), Timings())
    out["first_search_after_open_ms"] = round(first * 1000, 2)
    log(f"  raw chromadb get with where, {len(raw_users)} users")
    include = ["documents", "metadatas", "embeddings"]
    gets = Timings()
    for user in raw_users:
        collection = chroma.collection_of(user_id(user))
        gets.run(partial(collection.get, where={"user_id": user_id(user)}, include=include))
    out["chroma_get_where"] = gets.summary()
    out |= chroma_get_variants(chroma, owner, others[: 2 * n_cold], include)

    log(f"  store only: {len(cold_store_users)} cold, {args.warm} warm searches")
    gcw.take()
    out["cold_store_only"] = cold_searches(service, store, cold_store_users, questions)
    out["warm_store_only"] = warm_searches(service, cold_store_users, args.warm, questions, rnd)
    out["gc_during_store_only"] = gcw.take()

    if not args.no_model:
        log(f"  with model: {len(cold_model_users)} cold, {args.warm} warm searches")
        model = MiniLMEmbedder(threads=1)
        model.embed(["warm up"], "query")
        model_service = MemoryService(store, model, history, selection, cache_memories=CACHE_ROWS)
        out["cold_with_model"] = cold_searches(model_service, store, cold_model_users, questions)
        out["warm_with_model"] = warm_searches(
            model_service, cold_model_users, args.warm, questions, rnd
        )
        embeds = Timings()
        for _ in range(200):
            embeds.run(partial(model.embed, [questions.next()], "query"))
        out["query_embedding_alone"] = embeds.summary()
    else:
        cold_model_users = []
        others = rest[2 * n_cold :]
    out["rss_after_searches_mib"] = rss_mib()

    already = [first_user, *cold_store_users, *cold_model_users]
    others = [*raw_users, *others]  # read raw from chromadb above, never indexed
    rows_before = int(counts[already].sum())
    out["warm_all"] = load_everyone(
        service, store, others, counts, rows_before, args.warm_all_budget
    )
    loaded = [first_user, *cold_store_users, *others[: out["warm_all"]["users_loaded"]]]
    log(f"  {args.warm} warm searches with {out['warm_all']['rows_in_process']:,} rows cached")
    gcw.take()
    out["warm_store_only_full_cache"] = warm_searches(service, loaded, args.warm, questions, rnd)
    out["gc_during_full_cache_searches"] = gcw.take()

    out["chroma_query"] = chroma_queries(chroma, people, args, rnd)
    status = harness.proc_memory()
    out["rss_at_end_mib"] = status["VmRSS"]
    out["peak_rss_mib"] = status["VmHWM"]
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    history.close()
    return out


def chroma_get_variants(
    chroma: ChromaStore, owner: np.ndarray, users: Sequence[int], include: list[str]
) -> dict[str, Any]:
    """What a cold load's chromadb `get` spends its time on, on users not read before: the
    `where` filter alone (ids only), and a fetch by ids (a layout that keeps each user's ids)."""
    half = len(users) // 2
    ids_only, by_ids = Timings(), Timings()
    for user in users[:half]:
        collection = chroma.collection_of(user_id(user))
        ids_only.run(partial(collection.get, where={"user_id": user_id(user)}, include=[]))
    for user in users[half:]:
        collection = chroma.collection_of(user_id(user))
        positions = np.flatnonzero(owner == user).tolist()
        ids = [memory_id(f"scale-turn-{i // 4}", i % 4) for i in positions]
        by_ids.run(partial(collection.get, ids=ids, include=include))
        if user == users[-1] and len(collection.get(ids=ids, include=[])["ids"]) != len(ids):
            raise RuntimeError("memory ids derived here do not match the stored ones")
    return {"chroma_get_where_ids_only": ids_only.summary(), "chroma_get_by_ids": by_ids.summary()}


def load_everyone(
    service: MemoryService,
    store: LoadTimer,
    users: Sequence[int],
    counts: np.ndarray,
    rows_before: int,
    budget_s: float,
) -> dict[str, Any]:
    """Load every remaining user's index through a search, within a time budget."""
    log(f"  loading {len(users):,} more users (budget {budget_s:.0f} s)")
    rss_before = rss_mib()
    questions = Distinct(QUESTIONS, len(users))
    store.loads.clear()
    totals = Timings()
    started = time.perf_counter()
    next_report = started + 30
    for user in users:
        search_once(service, user, questions.next(), totals)
        now = time.perf_counter()
        if now - started > budget_s:
            break
        if now > next_report:
            log(
                f"    {len(totals.wall):,} users in {now - started:.0f} s, RSS {rss_mib():,.0f} MiB"
            )
            next_report += 30
    elapsed = time.perf_counter() - started
    rss_after = rss_mib()
    loaded = len(totals.wall)
    added_rows = int(counts[list(users[:loaded])].sum())
    return {
        "users_loaded": loaded,
        "users_requested": len(users),
        "complete": loaded == len(users),
        "seconds": round(elapsed, 1),
        "rows_loaded": added_rows,
        "rows_in_process": added_rows + rows_before,
        "cold_search_while_growing": totals.summary(),
        "load_user_while_growing": harness.latency(store.loads),
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "bytes_per_memory": round((rss_after - rss_before) * 2**20 / added_rows)
        if added_rows
        else None,
    }


def chroma_queries(
    chroma: ChromaStore, people: Sequence[int], args: argparse.Namespace, rnd: random.Random
) -> dict[str, Any]:
    """The naive layout: chromadb's own top-10 query on the user's shard, filtered to the user,
    and unfiltered."""
    rng = np.random.default_rng([args.seed, 4])
    before = rss_mib()

    def query(user: int, filtered: bool, timings: Timings) -> float:
        vector = unit_vectors(rng, 1)
        where = {"user_id": user_id(user)} if filtered else None
        collection = chroma.collection_of(user_id(user))
        call = partial(collection.query, query_embeddings=vector, where=where, n_results=10)
        return timings.run(call)

    log("  chromadb: first query (loads one shard's HNSW index)")
    first = query(rnd.choice(people), True, Timings())
    filtered, unfiltered = Timings(), Timings()
    log(f"  chromadb: up to {args.chroma_queries} filtered queries ({args.chroma_budget:.0f} s)")
    deadline = time.perf_counter() + args.chroma_budget
    while len(filtered.wall) < args.chroma_queries and time.perf_counter() < deadline:
        query(rnd.choice(people), True, filtered)
    for _ in range(50):
        query(rnd.choice(people), False, unfiltered)
    return {
        "first_query_ms": round(first * 1000, 2),
        "filtered": filtered.summary(),
        "unfiltered": unfiltered.summary(),
        "rss_before_mib": before,
        "rss_after_mib": rss_mib(),
    }


# --- the driver ------------------------------------------------------------------------------


def disk_usage(path: Path) -> dict[str, float]:
    """Allocated and apparent size of every file under `path`, in MiB."""
    files = [file.stat() for file in path.rglob("*") if file.is_file()]
    return {
        "allocated_mib": round(sum(f.st_blocks * 512 for f in files) / 2**20, 1),
        "apparent_mib": round(sum(f.st_size for f in files) / 2**20, 1),
    }


def users_for(size: int) -> int:
    return 100 if size <= 1_000 else 10_000


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="memory-proxy-scale-", dir="/tmp"))
    data_dir = root / "data"
    try:
        log(f"{size:,} memories over {users_for(size):,} users: ingest")
        users = users_for(size)
        ingested = harness.in_fresh_process(ingest, args, data_dir, size, users)
        disk = disk_usage(data_dir)
        stored = ingested["stored"]
        log(f"{stored:,} memories: search")
        searched = harness.in_fresh_process(search, args, data_dir, stored, size, users)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "target_memories": size,
        "memories": stored,
        "users": users_for(size),
        "ingest": ingested,
        "disk": disk,
        **searched,
    }


def fmt_latency(stats: dict[str, Any] | None, prefix: str = "") -> str:
    if not stats or not stats.get("n") or f"{prefix}p50_ms" not in stats:
        return "-"
    return " / ".join(f"{stats[f'{prefix}p{q}_ms']:.2f}" for q in (50, 95, 99))


def get(run: dict[str, Any], path: str) -> Any:
    value: Any = run
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


# (label, what): a dotted path into a run, shown as latency ("lat"), CPU time ("cpu") or MiB
# ("mib"); or a function of the run.
ROWS: list[tuple[str, tuple[str, str] | Callable[[dict[str, Any]], str]]] = [
    ("memories / users", lambda r: f"{r['memories']:,} / {r['users']:,}"),
    ("  target (ingest cut short?)", lambda r: f"{r['target_memories']:,}"
        + ("" if r["memories"] == r["target_memories"] else " (yes)")),
    ("load average (1 min) at search", lambda r: (
        f"{r['load_average_at_start'][0]:.1f} -> {r['load_average_at_end'][0]:.1f}")),
    ("ingest rate, wall", lambda r: (
        f"{r['ingest']['memories_per_s']:,.0f}/s, {r['ingest']['wall_s']:,.1f} s")),
    ("disk (allocated)", ("mib", "disk.allocated_mib")),
    ("RSS after ingest", ("mib", "ingest.rss_after_mib")),
    ("RSS after reopen", ("mib", "rss_after_open_mib")),
    ("first search after reopen", lambda r: f"{r['first_search_after_open_ms']:.1f} ms"),
    ("chroma get where user (ms p50/95/99)", ("lat", "chroma_get_where")),
    ("  ids only (where filter alone)", ("lat", "chroma_get_where_ids_only")),
    ("chroma get by ids (same rows)", ("lat", "chroma_get_by_ids")),
    ("cold search, store only", ("lat", "cold_store_only.total")),
    ("  CPU time", ("cpu", "cold_store_only.total")),
    ("  of which load_user", ("lat", "cold_store_only.load_user")),
    ("  of which index build + search", ("lat", "cold_store_only.index_build_and_search")),
    ("cold search, with model", ("lat", "cold_with_model.total")),
    ("  CPU time", ("cpu", "cold_with_model.total")),
    ("warm search, store only", ("lat", "warm_store_only")),
    ("  CPU time", ("cpu", "warm_store_only")),
    ("warm search, with model", ("lat", "warm_with_model")),
    ("  CPU time", ("cpu", "warm_with_model")),
    ("query embedding alone", ("lat", "query_embedding_alone")),
    ("  CPU time", ("cpu", "query_embedding_alone")),
    ("all users loaded: users, s", lambda r: (
        f"{r['warm_all']['users_loaded']:,}/{r['warm_all']['users_requested']:,}"
        f" more, {r['warm_all']['seconds']:,.0f} s")),
    ("  rows in process", lambda r: f"{r['warm_all']['rows_in_process']:,}"),
    ("  cold search while growing", ("lat", "warm_all.cold_search_while_growing")),
    ("  RSS after", ("mib", "warm_all.rss_after_mib")),
    ("  bytes per cached memory", lambda r: f"{r['warm_all']['bytes_per_memory'] or 0:,}"),
    ("warm search, full cache", ("lat", "warm_store_only_full_cache")),
    ("  CPU time", ("cpu", "warm_store_only_full_cache")),
    ("  full GC pauses (n, total ms)", lambda r: (
        f"{r['gc_during_full_cache_searches']['full_collections']}, "
        f"{r['gc_during_full_cache_searches']['full_total_ms']:.0f}")),
    ("chroma first query (HNSW load)", lambda r: f"{r['chroma_query']['first_query_ms']:,.0f} ms"),
    ("chroma query where user", ("lat", "chroma_query.filtered")),
    ("  CPU time", ("cpu", "chroma_query.filtered")),
    ("chroma query, no filter", ("lat", "chroma_query.unfiltered")),
    ("RSS at end / peak", lambda r: f"{r['rss_at_end_mib']:,.0f} / {r['peak_rss_mib']:,.0f} MiB"),
]  # fmt: skip


def cell(run: dict[str, Any], what: tuple[str, str] | Callable[[dict[str, Any]], str]) -> str:
    if callable(what):
        return what(run)
    kind, path = what
    if kind == "mib":
        value = get(run, path)
        return "-" if value is None else f"{value:,.0f} MiB"
    return fmt_latency(get(run, path), prefix="cpu_" if kind == "cpu" else "")


def table(runs: Sequence[dict[str, Any]]) -> str:
    rows = [[label, *(cell(run, what) for run in runs)] for label, what in ROWS]
    header = ["latency: ms p50 / p95 / p99", *(f"{run['memories']:,}" for run in runs)]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in rows]
    head = " | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True))
    return "\n".join([head, "-+-".join("-" * w for w in widths), *lines])


def earlier_runs(path: Path, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Runs of other sizes from an earlier results file, each marked with its own date."""
    if not path.exists():
        return []
    earlier = json.loads(path.read_text())
    return [
        {"from_earlier_run": {"date": earlier["date"], "command": earlier["command"]}, **run}
        | {"target_memories": run.get("target_memories", run["memories"])}
        for run in earlier.get("runs", [])
        if run.get("target_memories", run["memories"]) not in sizes
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", help="comma-separated memory counts (default 1k,100k,1M)")
    parser.add_argument("--quick", action="store_true", help="1k and 100k only")
    parser.add_argument("--batch", type=int, default=5_000, help="memories per upsert")
    parser.add_argument("--cold", type=int, default=200, help="cold searches per variant")
    parser.add_argument("--warm", type=int, default=500, help="warm searches per variant")
    parser.add_argument(
        "--warm-all-budget", type=float, default=900, help="seconds to spend loading every user"
    )
    parser.add_argument("--chroma-queries", type=int, default=200, help="filtered chroma queries")
    parser.add_argument("--chroma-budget", type=float, default=120, help="seconds for them")
    parser.add_argument(
        "--ingest-budget", type=float, help="stop ingesting after this many seconds (per size)"
    )
    parser.add_argument("--no-model", action="store_true", help="skip the MiniLM variant")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other sizes' runs already in --out"
    )
    parser.add_argument("--seed", type=int, default=20261101)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "scale.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    report: dict[str, Any] = {
        **harness.run_header("store scale (docs/bench.md §3)"),
        "parameters": {
            "sizes": sizes,
            "users": {str(s): users_for(s) for s in sizes},
            "dim": DIM,
            "vectors": "random unit vectors (float32)",
            "user_assignment": "uniform at random",
            "batch": args.batch,
            "cold_searches_per_variant": args.cold,
            "warm_searches_per_variant": args.warm,
            "warm_all_budget_s": args.warm_all_budget,
            "chroma_queries": args.chroma_queries,
            "chroma_budget_s": args.chroma_budget,
            "ingest_budget_s": args.ingest_budget,
            "model": None if args.no_model else f"{EMBEDDER_NAME}, 1 thread",
            "index_cache_max_rows": CACHE_ROWS,
            "seed": args.seed,
        },
        "runs": [],
    }
    report["runs"] = earlier_runs(args.out, sizes) if args.merge else []
    for size in sizes:
        report["runs"].append(run_size(size, args))
        report["runs"].sort(key=lambda run: run["target_memories"])
        report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        harness.write_results(args.out, report, quiet=True)
        print(table(report["runs"]), flush=True)
        print(flush=True)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
