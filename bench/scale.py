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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.memory.embed.base import TextKind
from proxy.memory.embed.minilm import MiniLMEmbedder
from proxy.memory.recall.retrieval import SelectionParams
from proxy.memory.service import MemoryService, memory_id
from proxy.memory.storage.chroma import PREFIX, ChromaStore, shard_of
from proxy.memory.storage.history import History
from proxy.settings import RetrievalSettings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the repo root: `bench` imports from a plain checkout
    sys.path.insert(0, str(ROOT))

from bench.report import run_header  # noqa: E402  (needs the path above)

RESULTS = ROOT / "bench" / "results" / "scale.json"
# The proxy's default in-process index size (retrieval.cache_memories): past it the least
# recently used users are evicted and load again from the store on their next request.
CACHE_ROWS = RetrievalSettings().cache_memories
DIM = 384
EMBEDDER_NAME = MiniLMEmbedder.name  # what the store records; vectors are random either way
FULL_SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 100_000)

# Short memory texts in the shape the offline extractor writes, from a few word lists.
TEMPLATES = (
    "Likes {a} and {b}.",
    "Visited {place} in {year} with their {person}.",
    "Is allergic to {a}.",
    "Wants to learn {a} before {year}.",
    "Works on {a} projects in {place}.",
    "Prefers {a} over {b} for {occasion}.",
    "Their {person} lives in {place}.",
    "Bought a new {a} in {place} last {month}.",
    "Plays {a} every {day} with their {person}.",
    "Is planning a trip to {place} in {month} for {occasion}.",
)
NOUNS = (
    "sushi ramen pizza tacos curry espresso matcha chocolate peanuts shellfish gluten lactose "
    "guitar piano violin chess tennis climbing running yoga swimming cycling photography "
    "pottery painting knitting gardening baking rust python golang kubernetes databases "
    "jazz techno opera podcasts novels poetry history astronomy economics spanish japanese "
    "german french bicycle camera laptop kayak tent telescope sneakers watch drone"
).split()
PLACES = (
    "Lisbon Berlin Tokyo Osaka Seoul Nairobi Lagos Lima Quito Bogota Toronto Vancouver Denver "
    "Austin Chicago Boston Dublin Edinburgh Oslo Helsinki Prague Vienna Budapest Krakow Athens "
    "Istanbul Cairo Marrakesh Mumbai Delhi Bangkok Hanoi Manila Sydney Auckland Reykjavik"
).split()
PERSONS = "sister brother mother father partner daughter son cousin manager neighbour".split()
OCCASIONS = "work weekends birthdays holidays dinner travel breakfast date nights".split()
MONTHS = "January February March April May June July August September October November".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
QUESTIONS = (
    "What do I like about {a}?",
    "Have I been to {place}?",
    "Who in my family lives in {place}?",
    "Any food I should avoid, like {a}?",
    "What did I buy in {place}?",
    "Do I prefer {a} or {b}?",
    "When is my trip for {occasion}?",
    "What hobbies do I share with my {person}?",
)


# --- measurement helpers ---------------------------------------------------------------------


def proc_status() -> dict[str, float]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of this process, in MiB."""
    values: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def rss_mib() -> float:
    return proc_status()["VmRSS"]


def disk_usage(path: Path) -> dict[str, float]:
    """Allocated and apparent size of every file under `path`, in MiB."""
    allocated = apparent = 0
    for file in path.rglob("*"):
        if file.is_file():
            stat = file.stat()
            allocated += stat.st_blocks * 512
            apparent += stat.st_size
    return {
        "allocated_mib": round(allocated / 2**20, 1),
        "apparent_mib": round(apparent / 2**20, 1),
    }


def latency(seconds: Sequence[float]) -> dict[str, float | int]:
    """Percentiles in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "mean_ms": round(float(ms.mean()), 3),
    }


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


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


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
        out = latency(self.wall)
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


def fill(template: str, rnd: random.Random) -> str:
    a, b = rnd.sample(NOUNS, 2)
    return template.format(
        a=a,
        b=b,
        place=rnd.choice(PLACES),
        person=rnd.choice(PERSONS),
        occasion=rnd.choice(OCCASIONS),
        month=rnd.choice(MONTHS),
        day=rnd.choice(DAYS),
        year=rnd.randrange(2000, 2027),
    )


def make_memory(position: int, owner: int, rnd: random.Random, base: datetime) -> Memory:
    when = base + timedelta(seconds=30 * position)
    return Memory(
        id=memory_id(f"scale-turn-{position // 4}", position % 4),
        text=fill(rnd.choice(TEMPLATES), rnd),
        scope=Scope(user_id=user_id(owner), session_id=f"session-{rnd.randrange(20)}"),
        created_at=when,
        occurred_at=when,
        kind=rnd.choice(("fact", "preference", "event")),
        source=f"scale-turn-{position // 4}",
    )


class Questions:
    """Distinct query texts (the MiniLM embedder caches repeated queries: none repeat here)."""

    def __init__(self, seed: int) -> None:
        self._rnd = random.Random(seed)
        self._seen: set[str] = set()

    def next(self) -> str:
        while True:
            text = fill(self._rnd.choice(QUESTIONS), self._rnd)
            text = f"{text} ({self._rnd.randrange(10**6)})" if text in self._seen else text
            if text not in self._seen:
                self._seen.add(text)
                return text


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


def ingest(
    data_dir: Path, size: int, users: int, batch: int, seed: int, budget_s: float | None
) -> dict[str, Any]:
    """Store `size` memories, or as many whole batches as fit in `budget_s` seconds."""
    store = ChromaStore.connect(data_dir, None, EMBEDDER_NAME)
    owner = owners(size, users, seed)
    rng = np.random.default_rng([seed, 2])
    rnd = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    upsert_s = 0.0
    started = time.perf_counter()
    next_report = started + 30
    stop = 0
    for start in range(0, size, batch):
        if budget_s is not None and time.perf_counter() - started > budget_s:
            log(f"  ingest budget of {budget_s:.0f} s spent: stopping at {start:,} memories")
            break
        stop = min(size, start + batch)
        memories = [make_memory(i, int(owner[i]), rnd, base) for i in range(start, stop)]
        vectors = unit_vectors(rng, stop - start)
        upsert_s += timed(partial(store.upsert, memories, vectors))
        if time.perf_counter() > next_report:
            elapsed = time.perf_counter() - started
            log(f"  ingest {stop:,}/{size:,} in {elapsed:.0f} s ({stop / elapsed:,.0f}/s)")
            next_report += 30
    wall = time.perf_counter() - started
    stored = store.count()
    if stored != stop:
        raise RuntimeError(f"stored {stored} memories, expected {stop}")
    status = proc_status()
    return {
        "stored": stored,
        "complete": stored == size,
        "wall_s": round(wall, 2),
        "upsert_s": round(upsert_s, 2),
        "memories_per_s": round(stored / wall, 1),
        "batch": batch,
        "rss_after_mib": status["VmRSS"],
        "peak_rss_mib": status["VmHWM"],
    }


# --- phase 2: search (child process, like a restarted proxy) ---------------------------------


class TimedStore(ChromaStore):
    """The real store, timing `load_user` (chromadb `get` with a `where` filter + row decode)."""

    def __init__(self, client: Any, embedder: str) -> None:
        super().__init__(client, embedder)
        self.loads: list[float] = []

    def load_user(self, user_id: str) -> tuple[list[Memory], np.ndarray]:
        started = time.perf_counter()
        try:
            return super().load_user(user_id)
        finally:
            self.loads.append(time.perf_counter() - started)


def open_client(data_dir: Path) -> Any:
    """The client `ChromaStore.connect` builds for a local data dir."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )


def cold_searches(
    service: MemoryService, store: TimedStore, users: Sequence[int], questions: Questions
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
        "load_user": latency(loads),
        "index_build_and_search": latency([t - s for t, s in zip(totals.wall, loads, strict=True)]),
    }


def warm_searches(
    service: MemoryService,
    users: Sequence[int],
    n: int,
    questions: Questions,
    rnd: random.Random,
) -> dict[str, Any]:
    timings = Timings()
    for _ in range(n):
        search_once(service, rnd.choice(users), questions.next(), timings)
    return timings.summary()


def search(args: argparse.Namespace) -> dict[str, Any]:
    gcw = GcWatch()
    out: dict[str, Any] = {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "rss_at_start_mib": rss_mib(),
    }
    data_dir: Path = args.data_dir
    started = time.perf_counter()
    client = open_client(data_dir)
    store = TimedStore(client, EMBEDDER_NAME)
    out["open_s"] = round(time.perf_counter() - started, 3)
    out["rss_after_open_mib"] = rss_mib()

    # The first `size` owners of the `target`-sized assignment: ingest may stop early.
    owner = owners(args.target, args.users, args.seed)[: args.size]
    counts = np.bincount(owner, minlength=args.users)
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
    questions = Questions(args.seed + 11)
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
        collection = shard_collection(client, user)
        gets.run(partial(collection.get, where={"user_id": user_id(user)}, include=include))
    out["chroma_get_where"] = gets.summary()
    out |= chroma_get_variants(client, owner, others[: 2 * n_cold], include)

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

    out["chroma_query"] = chroma_queries(client, people, args, rnd)
    status = proc_status()
    out["rss_at_end_mib"] = status["VmRSS"]
    out["peak_rss_mib"] = status["VmHWM"]
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    history.close()
    return out


def shard_collection(client: Any, user: int) -> Any:
    """The chromadb collection that holds this user's memories."""
    return client.get_collection(f"{PREFIX}{shard_of(user_id(user)):02d}")


def chroma_get_variants(
    client: Any, owner: np.ndarray, users: Sequence[int], include: list[str]
) -> dict[str, Any]:
    """What a cold load's chromadb `get` spends its time on, on users not read before: the
    `where` filter alone (ids only), and a fetch by ids (a layout that keeps each user's ids)."""
    half = len(users) // 2
    ids_only, by_ids = Timings(), Timings()
    for user in users[:half]:
        collection = shard_collection(client, user)
        ids_only.run(partial(collection.get, where={"user_id": user_id(user)}, include=[]))
    for user in users[half:]:
        collection = shard_collection(client, user)
        positions = np.flatnonzero(owner == user).tolist()
        ids = [memory_id(f"scale-turn-{i // 4}", i % 4) for i in positions]
        by_ids.run(partial(collection.get, ids=ids, include=include))
        if user == users[-1] and len(collection.get(ids=ids, include=[])["ids"]) != len(ids):
            raise RuntimeError("memory ids derived here do not match the stored ones")
    return {"chroma_get_where_ids_only": ids_only.summary(), "chroma_get_by_ids": by_ids.summary()}


def load_everyone(
    service: MemoryService,
    store: TimedStore,
    users: Sequence[int],
    counts: np.ndarray,
    rows_before: int,
    budget_s: float,
) -> dict[str, Any]:
    """Load every remaining user's index through a search, within a time budget."""
    log(f"  loading {len(users):,} more users (budget {budget_s:.0f} s)")
    rss_before = rss_mib()
    questions = Questions(len(users))
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
        "load_user_while_growing": latency(store.loads),
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "bytes_per_memory": round((rss_after - rss_before) * 2**20 / added_rows)
        if added_rows
        else None,
    }


def chroma_queries(
    client: Any, people: Sequence[int], args: argparse.Namespace, rnd: random.Random
) -> dict[str, Any]:
    """The naive layout: chromadb's own top-10 query on the user's shard, filtered to the user,
    and unfiltered."""
    rng = np.random.default_rng([args.seed, 4])
    before = rss_mib()

    def query(user: int, filtered: bool, timings: Timings) -> float:
        vector = unit_vectors(rng, 1)
        where = {"user_id": user_id(user)} if filtered else None
        collection = shard_collection(client, user)
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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def users_for(size: int) -> int:
    return 100 if size <= 1_000 else 10_000


def run_phase(
    phase: str, data_dir: Path, size: int, target: int, args: argparse.Namespace
) -> dict[str, Any]:
    out = data_dir.parent / f"{phase}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--data-dir",
        str(data_dir),
        "--size",
        str(size),
        "--target",
        str(target),
        "--users",
        str(users_for(target)),
        "--out",
        str(out),
        *forwarded(args),
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def forwarded(args: argparse.Namespace) -> list[str]:
    flags = [
        "--batch", str(args.batch), "--seed", str(args.seed), "--cold", str(args.cold),
        "--warm", str(args.warm), "--warm-all-budget", str(args.warm_all_budget),
        "--chroma-queries", str(args.chroma_queries), "--chroma-budget", str(args.chroma_budget),
    ]  # fmt: skip
    if args.ingest_budget is not None:
        flags += ["--ingest-budget", str(args.ingest_budget)]
    return [*flags, "--no-model"] if args.no_model else flags


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="memory-proxy-scale-", dir="/tmp"))
    data_dir = root / "data"
    try:
        log(f"{size:,} memories over {users_for(size):,} users: ingest")
        ingested = run_phase("ingest", data_dir, size, size, args)
        disk = disk_usage(data_dir)
        stored = ingested["stored"]
        log(f"{stored:,} memories: search")
        searched = run_phase("search", data_dir, stored, size, args)
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
    p50, p95, p99 = (stats[f"{prefix}p{q}_ms"] for q in (50, 95, 99))
    return f"{p50:.2f} / {p95:.2f} / {p99:.2f}"


def table(runs: Sequence[dict[str, Any]]) -> str:
    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> list[str]:
        return [label, *(cell(run) for run in runs)]

    def get(run: dict[str, Any], *keys: str) -> Any:
        value: Any = run
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def lat(*keys: str) -> Callable[[dict[str, Any]], str]:
        return lambda run: fmt_latency(get(run, *keys))

    def cpu(*keys: str) -> Callable[[dict[str, Any]], str]:
        return lambda run: fmt_latency(get(run, *keys), prefix="cpu_")

    def mib(*keys: str) -> Callable[[dict[str, Any]], str]:
        return lambda run: "-" if get(run, *keys) is None else f"{get(run, *keys):,.0f} MiB"

    rows = [
        row("memories / users", lambda r: f"{r['memories']:,} / {r['users']:,}"),
        row("  target (ingest cut short?)", lambda r: f"{r['target_memories']:,}" + (
            "" if r["memories"] == r["target_memories"] else " (yes)"
        )),
        row("load average (1 min) at search", lambda r: (
            f"{r['load_average_at_start'][0]:.1f} -> {r['load_average_at_end'][0]:.1f}"
        )),
        row("ingest rate, wall", lambda r: (
            f"{r['ingest']['memories_per_s']:,.0f}/s, {r['ingest']['wall_s']:,.1f} s"
        )),
        row("disk (allocated)", mib("disk", "allocated_mib")),
        row("RSS after ingest", mib("ingest", "rss_after_mib")),
        row("RSS after reopen", mib("rss_after_open_mib")),
        row("first search after reopen", lambda r: f"{r['first_search_after_open_ms']:.1f} ms"),
        row("chroma get where user (ms p50/95/99)", lat("chroma_get_where")),
        row("  ids only (where filter alone)", lat("chroma_get_where_ids_only")),
        row("chroma get by ids (same rows)", lat("chroma_get_by_ids")),
        row("cold search, store only", lat("cold_store_only", "total")),
        row("  CPU time", cpu("cold_store_only", "total")),
        row("  of which load_user", lat("cold_store_only", "load_user")),
        row("  of which index build + search", lat("cold_store_only", "index_build_and_search")),
        row("cold search, with model", lat("cold_with_model", "total")),
        row("  CPU time", cpu("cold_with_model", "total")),
        row("warm search, store only", lat("warm_store_only")),
        row("  CPU time", cpu("warm_store_only")),
        row("warm search, with model", lat("warm_with_model")),
        row("  CPU time", cpu("warm_with_model")),
        row("query embedding alone", lat("query_embedding_alone")),
        row("  CPU time", cpu("query_embedding_alone")),
        row("all users loaded: users, s", lambda r: (
            f"{r['warm_all']['users_loaded']:,}/{r['warm_all']['users_requested']:,}"
            f" more, {r['warm_all']['seconds']:,.0f} s"
        )),
        row("  rows in process", lambda r: f"{r['warm_all']['rows_in_process']:,}"),
        row("  cold search while growing", lat("warm_all", "cold_search_while_growing")),
        row("  RSS after", mib("warm_all", "rss_after_mib")),
        row("  bytes per cached memory", lambda r: f"{r['warm_all']['bytes_per_memory'] or 0:,}"),
        row("warm search, full cache", lat("warm_store_only_full_cache")),
        row("  CPU time", cpu("warm_store_only_full_cache")),
        row("  full GC pauses (n, total ms)", lambda r: (
            f"{r['gc_during_full_cache_searches']['full_collections']}, "
            f"{r['gc_during_full_cache_searches']['full_total_ms']:.0f}"
        )),
        row("chroma first query (HNSW load)", lambda r: (
            f"{r['chroma_query']['first_query_ms']:,.0f} ms"
        )),
        row("chroma query where user", lat("chroma_query", "filtered")),
        row("  CPU time", cpu("chroma_query", "filtered")),
        row("chroma query, no filter", lat("chroma_query", "unfiltered")),
        row("RSS at end / peak", lambda r: (
            f"{r['rss_at_end_mib']:,.0f} / {r['peak_rss_mib']:,.0f} MiB"
        )),
    ]  # fmt: skip
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    # Internal: one phase of one size, in a child process.
    parser.add_argument("--phase", choices=("ingest", "search"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.phase:
        if args.phase == "ingest":
            result = ingest(
                args.data_dir, args.size, args.users, args.batch, args.seed, args.ingest_budget
            )
        else:
            result = search(args)
        args.out.write_text(json.dumps(result, indent=2))
        return

    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    report: dict[str, Any] = {
        **run_header("store scale (docs/bench.md §3)"),
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
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(table(report["runs"]), flush=True)
        print(flush=True)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
