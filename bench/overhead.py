"""Proxy overhead benchmark (docs/bench.md §2): what the proxy adds to a model call's latency, for
each API it gives memory to: Chat Completions, the Responses API and Anthropic Messages.

The fake upstream and the proxy run as separate processes (so the load generator here shares no
GIL with them); the same chat request is sent straight to the upstream and through the proxy,
interleaved in blocks (direct, proxy, proxy, direct, ...) so machine noise hits both sides
equally, at several concurrency levels, with memory off and with memory on for users holding 1k
and 10k stored memories, non-streaming and streaming.

    python bench/overhead.py            # full run (seeds the memory users once, then cached)
    python bench/overhead.py --quick --skip-10k   # a fast smoke run
    python bench/overhead.py --apis chat,responses,messages --scenarios off,mem-1k --skip-10k

Results: a table on stdout and bench/results/overhead.json. Absolute times depend on the
machine; the ratios between direct and proxied calls in one run are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import aiohttp
import httpx
import numpy as np

from bench import harness
from bench.words import FIRST_PERSON, fill
from testbed.processes import Child, ProxyProcess, serve_command, upstream_process

DEFAULT_DATA = Path(tempfile.gettempdir()) / "memory-proxy-bench" / "overhead-data"
MODEL = "gpt-4.1-mini"
QUESTION = "Which cities did I visit in 2019?"
SYSTEM = "You are a helpful assistant. Answer briefly."
# The APIs measured: the route, and the same question as each API asks it.
APIS = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}
# ~200 characters: the fake upstream splits it into 20 content chunks when streaming.
ANSWER = (
    "You visited several cities that year, according to what you told me earlier; the ones I "
    "remember best are the trips you described in spring and autumn, each with family or friends."
)
USERS = {"bench-1k": 1_000, "bench-10k": 10_000}
SCENARIOS = {"off": None, "mem-1k": "bench-1k", "mem-10k": "bench-10k"}
FACTS_PER_TURN = 10
SEED_CONCURRENCY = 8
PRE_DEDUP = 0.88  # below the proxy's 0.92 write de-duplication, with a margin


def chat_body(content: str, *, stream: bool, system: str = SYSTEM) -> dict[str, Any]:
    body = harness.chat_body(content, model=MODEL, system=system, stream=stream)
    return body | {"temperature": 0}


def api_body(
    api: str, content: str, *, stream: bool, system: str = SYSTEM, opener: str | None = None
) -> dict[str, Any]:
    """The same call in each API's shape (system prompt, one user turn, streamed or not).
    `opener`: an earlier exchange before that turn, which makes the call a conversation of its
    own for every API (a system prompt is part of chat's messages, not of the others')."""
    turn = [{"role": "user", "content": content}]
    if opener is not None:
        earlier = [{"role": "user", "content": opener}, {"role": "assistant", "content": "Sure."}]
        turn = [*earlier, *turn]
    if api == "chat":
        body = chat_body(content, stream=stream, system=system)
        body["messages"] = [body["messages"][0], *turn]
        return body
    if api == "responses":
        body = {"model": MODEL, "instructions": system, "input": turn}
    else:
        body = {"model": MODEL, "max_tokens": 256, "system": system, "messages": turn}
    return body | {"temperature": 0} | ({"stream": True} if stream else {})


# --- seeding ---------------------------------------------------------------------------------


class FactSource:
    """Distinct first-person sentences: each is kept only if its cosine similarity to every
    sentence kept before (and to the user's stored memories) is below PRE_DEDUP, with the same
    embedding model as the proxy, so the proxy's write de-duplication merges none of them."""

    def __init__(self, seed: int, existing: Sequence[str]) -> None:
        from proxy.memory.embed.minilm import MiniLMEmbedder

        self._rng = random.Random(seed)
        self._seen: set[str] = set(existing)
        self._embedder = MiniLMEmbedder(threads=2)
        self._vectors = self._embed(list(existing)) if existing else np.zeros((0, 384), "f4")
        self.rejected = 0

    def _embed(self, texts: list[str]) -> np.ndarray:
        chunks = [
            self._embedder.embed(texts[i : i + 256], "passage") for i in range(0, len(texts), 256)
        ]
        return np.concatenate(chunks).astype(np.float32)

    def take(self, count: int) -> list[str]:
        kept: list[str] = []
        while len(kept) < count:
            batch: list[str] = []
            while len(batch) < min(max(64, 2 * (count - len(kept))), 1024):
                text = fill(self._rng.choice(FIRST_PERSON), self._rng)
                if text not in self._seen:
                    self._seen.add(text)
                    batch.append(text)
            vectors = self._embed(batch)
            # Against everything kept so far in one product, then within the batch.
            prior = self._vectors @ vectors.T if len(self._vectors) else None
            accepted: list[int] = []
            for i in range(len(batch)):
                if len(kept) + len(accepted) >= count:
                    break
                close = prior is not None and float(prior[:, i].max()) >= PRE_DEDUP
                if not close and accepted:
                    close = float((vectors[accepted] @ vectors[i]).max()) >= PRE_DEDUP
                self.rejected += close
                if not close:
                    accepted.append(i)
            kept += [batch[i] for i in accepted]
            self._vectors = np.concatenate([self._vectors, vectors[accepted]])
        return kept


async def send_turns(proxy_url: str, user: str, messages: list[str]) -> dict[str, int]:
    headers = {"Authorization": "Bearer sk-bench", "X-User-Id": user, "X-Memory-Mode": "write-only"}
    statuses: Counter[int] = Counter()
    queue = iter(messages)
    limits = httpx.Limits(max_connections=SEED_CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=proxy_url, timeout=120, limits=limits, trust_env=False
    ) as client:

        async def worker() -> None:
            for content in queue:
                body = chat_body(content, stream=False)
                response = await client.post("/v1/chat/completions", json=body, headers=headers)
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(SEED_CONCURRENCY)))
    return {str(k): v for k, v in statuses.items()}


def seed_user(proxy_url: str, user: str, target: int, runner: asyncio.Runner) -> dict[str, Any]:
    """Tell the user's proxy facts until `target` memories are stored (a no-op once cached)."""
    texts = [m["text"] for m in harness.list_memories(proxy_url, user)]
    count = len(texts)
    report: dict[str, Any] = {"user": user, "target": target, "before": count, "rounds": []}
    if count >= target:
        print(f"  {user}: {count} memories already stored (cached), no seeding")
        return report | {"after": count, "cached": True}
    source = FactSource(seed=hash((user, count, time.time_ns())) & 0xFFFFFFFF, existing=texts)
    for _ in range(6):
        if count >= target:
            break
        generated_at = time.perf_counter()
        facts = source.take(target - count)
        generate_s = time.perf_counter() - generated_at
        turns = [
            " ".join(facts[i : i + FACTS_PER_TURN]) for i in range(0, len(facts), FACTS_PER_TURN)
        ]
        started = time.perf_counter()
        statuses = runner.run(send_turns(proxy_url, user, turns))
        sent_s = time.perf_counter() - started
        flush_s = harness.flush(proxy_url)
        total_s = time.perf_counter() - started
        before, count = count, len(harness.list_memories(proxy_url, user))
        stored = count - before
        report["rounds"].append(
            {
                "facts_sent": len(facts),
                "turns_sent": len(turns),
                "statuses": statuses,
                "generate_s": round(generate_s, 2),
                "send_s": round(sent_s, 2),
                "flush_wait_s": round(flush_s, 2),
                "total_s": round(total_s, 2),
                "stored": stored,
                "memories_per_s": round(stored / total_s, 1) if total_s > 0 else None,
                "turns_per_s_accepted": round(len(turns) / sent_s, 1) if sent_s > 0 else None,
            }
        )
        print(
            f"  {user}: sent {len(facts)} facts in {len(turns)} turns; stored {stored} in "
            f"{total_s:.1f} s; now {count}"
        )
    seconds = sum(r["total_s"] for r in report["rounds"])
    stored_total = sum(r["stored"] for r in report["rounds"])
    with httpx.Client(timeout=30, trust_env=False) as client:
        healthz = client.get(f"{proxy_url}/healthz").json()
    return report | {
        "after": count,
        "cached": False,
        "pre_dedup_rejected": source.rejected,
        "healthz_after": healthz,
        "memories_per_s": round(stored_total / seconds, 1) if seconds else None,
    }


# --- the proxy process -----------------------------------------------------------------------


def start_proxy(
    workdir: Path, upstream: Child, data_dir: Path, env: dict[str, str] | None = None
) -> ProxyProcess:
    # The fake upstream answers Anthropic's /v1/messages too, at its root.
    env = {"MEMORY_PROXY_ANTHROPIC_UPSTREAM_URL": upstream.url, **(env or {})}
    proxy = ProxyProcess(f"{upstream.url}/v1", data_dir, workdir / "proxy.log", env)
    proxy.wait_ready(300)
    print(f"proxy ready in {proxy.ready_s:.2f} s (pid {proxy.pid})")
    return proxy


def first_requests(proxy: ProxyProcess, users: Iterable[str]) -> dict[str, Any]:
    """The first and second memory request of each user: latency and memory status."""
    out: dict[str, Any] = {}
    for user in users:
        out[user] = {}
        for attempt in ("first", "second"):
            started = time.perf_counter()
            response = proxy.http.post(
                "/v1/chat/completions",
                json=chat_body(f"{QUESTION} ({attempt})", stream=False),
                headers={"X-User-Id": user, "X-Memory-Mode": "read-only"},
                timeout=120,
            )
            out[user][attempt] = {
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "memory_status": response.headers.get("x-memory-status"),
                "memory_count": response.headers.get("x-memory-count"),
            }
    print(f"first and second memory request per user: {out}")
    return out


def wait_for_preload(proxy: ProxyProcess, users: int, deadline_s: float) -> float:
    """Seconds until the proxy's background preload holds `users` users."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        if proxy.health()["memory"].get("index_cache", {}).get("users", 0) >= users:
            return time.perf_counter() - started
        time.sleep(0.05)  # poll interval
    raise RuntimeError(f"the proxy did not preload {users} users in {deadline_s} s")


def rss(pid: int, key: str = "VmRSS") -> float | None:
    return harness.proc_memory(pid).get(key)


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """Record the process with py-spy (raw format) while the block runs."""
    if output is None:
        yield
        return
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [binary, "record", "--format", "raw", "--rate", "200", "-o", str(output)]
    recorder = subprocess.Popen(
        [*command, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            _, err = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, err = recorder.communicate()
        print(f"py-spy: {err.decode(errors='replace').strip().splitlines()[-1:]}")


# --- one cell: direct and proxied, interleaved -----------------------------------------------


@dataclass
class Cell:
    api: str  # chat | responses | messages
    scenario: str
    mode: str  # json | stream
    concurrency: int
    requests: int  # per side
    block: int
    direct: harness.Side
    proxy: harness.Side


async def run_cell(
    upstream_url: str,
    proxy: ProxyProcess,
    api: str,
    scenario: str,
    stream: bool,
    concurrency: int,
    requests: int,
    block: int,
    distinct_queries: bool,
) -> Cell:
    user = SCENARIOS[scenario]
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    if api == "messages":
        headers = {"x-api-key": "sk-bench", "anthropic-version": "2023-06-01"} | headers
        del headers["Authorization"]
    if user is not None:
        headers |= {"X-User-Id": user, "X-Memory-Mode": "read-only"}
    salt = random.randrange(1 << 30)

    def bodies(index: int) -> bytes:
        # Every request is a new conversation (its first message differs): an exact repeat would
        # get the blocks the proxy carried for it the first time, without a retrieval.
        opener = f"Hi, this is conversation {salt}-{index}."
        question = QUESTION
        if distinct_queries:
            question = f"{QUESTION} (ref {salt}-{index})"  # defeats the query-vector cache
        return json.dumps(api_body(api, question, stream=stream, opener=opener)).encode()

    mode = "stream" if stream else "json"
    cell = Cell(api, scenario, mode, concurrency, requests, block, harness.Side(), harness.Side())
    urls = {"direct": upstream_url + APIS[api], "proxy": proxy.url + APIS[api]}
    sides = {"direct": cell.direct, "proxy": cell.proxy}

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=120),
            skip_auto_headers=("User-Agent",),
        )

    async with session() as direct, session() as proxied:
        clients = {"direct": direct, "proxy": proxied}

        async def run(target: str, count: int, warm_up: bool = False) -> None:
            url = urls[target]
            side = None if warm_up else sides[target]
            cpu = harness.proc_cpu_s(proxy.pid)
            await harness.run_block(
                clients[target], url, bodies, headers, stream, count, concurrency, side
            )
            if side is cell.proxy:
                cell.proxy.cpu_s += harness.proc_cpu_s(proxy.pid) - cpu

        warm = max(2 * concurrency, 20)  # opens the connections, loads the user's index
        await run("direct", warm, warm_up=True)
        await run("proxy", warm, warm_up=True)
        blocks = max(1, round(requests / block))
        sizes = [requests // blocks + (1 if i < requests % blocks else 0) for i in range(blocks)]
        gc.collect()
        gc.disable()
        try:
            for i, size in enumerate(sizes):
                await run("direct" if i % 2 == 0 else "proxy", size)  # ABBA
                await run("proxy" if i % 2 == 0 else "direct", size)
        finally:
            gc.enable()
    return cell


def summarise(cell: Cell, stored: int | None) -> dict[str, Any]:
    direct, proxy = cell.direct.summary(), cell.proxy.summary()
    out: dict[str, Any] = {
        "api": cell.api,
        "scenario": cell.scenario,
        "user": SCENARIOS[cell.scenario],
        "stored_memories": stored,
        "mode": cell.mode,
        "concurrency": cell.concurrency,
        "requests_per_side": cell.requests,
        "block": cell.block,
        "direct": direct,
        "proxy": proxy,
        "added_ms": difference(proxy["latency_ms"], direct["latency_ms"]),
    }
    if direct["ttfb_ms"] and proxy["ttfb_ms"]:
        out["added_ttfb_ms"] = difference(proxy["ttfb_ms"], direct["ttfb_ms"])
    out["memory_status"] = dict(Counter(s.memory or "-" for s in cell.proxy.samples))
    samples = len(cell.proxy.samples)
    out["proxy_cpu_ms_per_request"] = (
        round(cell.proxy.cpu_s * 1000 / samples, 3) if samples else None
    )
    return out


def difference(a: dict[str, float | None], b: dict[str, float | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in a.items():
        other = b[key]
        out[key] = None if value is None or other is None else round(value - other, 3)
    return out


# --- report ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def trio(stats: dict[str, float | None] | None) -> str:
    return "-" if not stats else "/".join(fmt(stats[f"p{q}"]) for q in (50, 95, 99))


def print_table(rows: list[dict[str, Any]], *, header: bool = True, ttfb: bool = True) -> None:
    head = (
        f"{'api':<9} {'scenario':<8} {'mode':<6} {'c':>3} {'n':>5} | "
        f"{'direct p50/p95/p99 ms':>22} | {'proxy p50/p95/p99 ms':>22} | "
        f"{'added p50/p95/p99 ms':>22} | {'rps dir':>7} {'rps prx':>7} | "
        f"{'cpu ms':>6} | memory status"
    )
    if header:
        print(f"{head}\n{'-' * len(head)}")
    for row in rows:
        direct, proxy = row["direct"], row["proxy"]
        status = ",".join(f"{k}:{v}" for k, v in row["memory_status"].items())
        if direct["errors"] + proxy["errors"]:
            status += f" ERRORS:{direct['errors'] + proxy['errors']}"
        print(
            f"{row.get('api', 'chat'):<9} {row['scenario']:<8} {row['mode']:<6} "
            f"{row['concurrency']:>3} "
            f"{row['requests_per_side']:>5} | {trio(direct['latency_ms']):>22} | "
            f"{trio(proxy['latency_ms']):>22} | {trio(row['added_ms']):>22} | "
            f"{fmt(direct['rps'], 0):>7} {fmt(proxy['rps'], 0):>7} | "
            f"{fmt(row['proxy_cpu_ms_per_request']):>6} | {status}"
        )
    streams = [r for r in rows if r["mode"] == "stream"]
    if streams and ttfb:
        head = (
            f"{'api':<9} {'scenario':<8} {'c':>3} | {'TTFB direct p50/p95/p99 ms':>26} | "
            f"{'TTFB proxy p50/p95/p99 ms':>26} | {'added TTFB p50/p95/p99 ms':>26}"
        )
        print(f"\n{head}\n{'-' * len(head)}")
        for row in streams:
            print(
                f"{row.get('api', 'chat'):<9} {row['scenario']:<8} {row['concurrency']:>3} | "
                f"{trio(row['direct']['ttfb_ms']):>26} | {trio(row['proxy']['ttfb_ms']):>26} | "
                f"{trio(row.get('added_ttfb_ms')):>26}"
            )


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="few requests per cell (smoke run)")
    add("--skip-10k", action="store_true", help="no 10k-memory user (no seeding)")
    add("--concurrency", default="1,16,64", help="comma-separated levels")
    add("--scenarios", default="off,mem-1k,mem-10k", help="off,mem-1k,mem-10k")
    add("--modes", default="json,stream", help="json,stream")
    add("--apis", default="chat,responses,messages", help="chat,responses,messages")
    add("--requests-c1", type=int, help="requests per side at c=1 (default 400)")
    add("--requests", type=int, help="requests per side at c>1 (default 2000)")
    add("--block", type=int, help="requests per interleaved block (default auto)")
    add(
        "--distinct-queries",
        action="store_true",
        help="a different question per request (no query-embedding cache hits in the proxy)",
    )
    add("--data-dir", type=Path, default=DEFAULT_DATA, help="proxy data (cache)")
    add("--fresh", action="store_true", help="wipe --data-dir and seed again")
    add("--output", type=Path, help="default: bench/results/overhead.json (overhead-routed.json)")
    add("--profile", type=Path, help="record the proxy with py-spy during the mem-10k cells")
    add(
        "--routed",
        action="store_true",
        help="routed calls instead (bench/routed.py): the proxy through litellm vs the same "
        "fake provider called directly, and litellm's own share",
    )
    add("--providers", default="unrouted,anthropic,gemini,ollama", help="with --routed")
    return parser.parse_args(argv)


def requests_for(args: argparse.Namespace, concurrency: int) -> int:
    if concurrency == 1:
        return int(args.requests_c1 or (60 if args.quick else 400))
    return int(args.requests or (300 if args.quick else 2000))


def block_for(args: argparse.Namespace, concurrency: int, requests: int) -> int:
    return int(args.block or max(1, min(max(25, 8 * concurrency), requests // 4)))


def seed_phase(run: Run) -> None:
    """Seed (or find cached) the memory users, then stop: the load runs on a clean process."""
    proxy = start_proxy(run.workdir, run.upstream, run.args.data_dir)
    try:
        for user, target in run.users.items():
            run.result["seeding"][user] = seed_user(proxy.url, user, target, run.runner)
        run.processes["seeding_proxy_peak_rss_mib"] = rss(proxy.pid, "VmHWM")
    finally:
        proxy.stop()


def cold_phase(run: Run) -> None:
    """A fresh process without the start-up preload: idle RSS with no user loaded, and what the
    first request of each user costs when its index is cold."""
    env = {"MEMORY_PROXY_RETRIEVAL__PRELOAD_USERS": "0"}
    proxy = start_proxy(run.workdir, run.upstream, run.args.data_dir, env)
    try:
        settle_until = time.monotonic() + 2.0  # let start-up allocations settle
        while time.monotonic() < settle_until:
            time.sleep(0.1)
        command = serve_command(0, f"{run.upstream.url}/v1", run.args.data_dir)
        run.processes |= {
            "proxy_command": shlex.join(command),
            "proxy_start_to_healthy_s": round(proxy.ready_s, 3),
            "proxy_idle_rss_mib": rss(proxy.pid),
        }
        print(f"proxy idle RSS {run.processes['proxy_idle_rss_mib']} MiB")
        run.processes["cold_requests"] = first_requests(proxy, run.users)
        run.processes["proxy_rss_after_user_load_mib"] = rss(proxy.pid)
    finally:
        proxy.stop()


def load_phase(run: Run, proxy: ProxyProcess) -> None:
    """The proxy as it normally starts (it loads the recently active users in the background
    once healthy), then every cell."""
    args = run.args
    if run.users:
        preload_s = wait_for_preload(proxy, len(run.users), 300)
        run.processes |= {
            "preload_s_after_healthy": round(preload_s, 2),
            "proxy_rss_after_preload_mib": rss(proxy.pid),
            "requests_after_preload": first_requests(proxy, run.users),
        }
    stored: dict[str | None, int | None] = {None: None}
    for user in run.users:
        stored[user] = len(harness.list_memories(proxy.url, user))
        run.result["seeding"].setdefault(user, {})["stored_for_load"] = stored[user]
        run.processes["cold_requests"][user]["stored_memories"] = stored[user]
    for scenario in run.scenarios:
        for mode in run.modes:
            profile = args.profile if scenario == "mem-10k" else None
            if profile is not None and mode == "stream":
                profile = profile.with_name(f"{profile.stem}-stream{profile.suffix}")
            with py_spy(proxy.pid, profile):
                for concurrency, api in itertools.product(run.concurrencies, run.apis):
                    requests = requests_for(args, concurrency)
                    block = block_for(args, concurrency, requests)
                    cell = run.runner.run(
                        run_cell(
                            run.upstream.url,
                            proxy,
                            api,
                            scenario,
                            mode == "stream",
                            concurrency,
                            requests,
                            block,
                            args.distinct_queries,
                        )
                    )
                    row = summarise(cell, stored[SCENARIOS[scenario]])
                    print_table([row], header=not run.result["cells"], ttfb=False)
                    run.result["cells"].append(row)
    run.processes |= {
        "proxy_peak_rss_mib": rss(proxy.pid, "VmHWM"),
        "proxy_final_rss_mib": rss(proxy.pid),
        "upstream_peak_rss_mib": rss(run.upstream.pid, "VmHWM"),
    }


@dataclass
class Run:
    args: argparse.Namespace
    concurrencies: list[int]
    scenarios: list[str]
    modes: list[str]
    apis: list[str]
    users: dict[str, int]  # memory user -> memories to seed
    workdir: Path
    runner: asyncio.Runner
    upstream: Child
    result: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, Any] = field(default_factory=dict)  # result["processes"]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    if args.routed:
        from bench import routed

        requests = requests_for(args, 1)
        routed.run(
            requests=requests,
            block=block_for(args, 1, requests),
            concurrencies=concurrencies,
            modes=args.modes.split(","),
            providers=args.providers.split(","),
            output=args.output or routed.RESULTS,
        )
        return
    args.output = args.output or harness.RESULTS / "overhead.json"
    scenarios = [s for s in args.scenarios.split(",") if not (args.skip_10k and s == "mem-10k")]
    modes = args.modes.split(",")
    apis = args.apis.split(",")
    unknown = (
        set(scenarios) - set(SCENARIOS) | set(modes) - {"json", "stream"} | set(apis) - set(APIS)
    )
    if unknown:
        raise SystemExit(f"unknown scenario, mode or api: {sorted(unknown)}")
    users = {u: n for u, n in USERS.items() if any(SCENARIOS[s] == u for s in scenarios)}
    if args.fresh and args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="overhead-"))
    result: dict[str, Any] = {
        **harness.run_header("proxy overhead (docs/bench.md §2)"),
        "parameters": {
            "concurrency": concurrencies,
            "scenarios": scenarios,
            "modes": modes,
            "apis": apis,
            "requests": {c: requests_for(args, c) for c in concurrencies},
            "distinct_queries": args.distinct_queries,
            "question": QUESTION,
            "model": MODEL,
            "answer_chars": len(ANSWER),
            "stream_chunks": 20,
            "interleave": "blocks per side in ABBA order after a warm-up of max(2c, 20) per side",
            "client": f"aiohttp {aiohttp.__version__}, HTTP/1.1 keep-alive, one session per side",
            "data_dir": str(args.data_dir),
            "users": users,
        },
        "seeding": {},
        "processes": {},
        "cells": [],
    }
    upstream = upstream_process(workdir / "upstream.log", ANSWER).wait_ready(60)
    proxy: ProxyProcess | None = None
    try:
        result["processes"]["upstream_start_to_ready_s"] = round(upstream.ready_s, 3)
        print(f"fake upstream ready in {upstream.ready_s:.2f} s (pid {upstream.pid})")
        with asyncio.Runner(loop_factory=harness.loop_factory()) as runner:
            run = Run(args, concurrencies, scenarios, modes, apis, users, workdir, runner, upstream)
            run.result, run.processes = result, result["processes"]
            if users:
                seed_phase(run)
            cold_phase(run)
            proxy = start_proxy(workdir, upstream, args.data_dir)
            load_phase(run, proxy)
    finally:
        for child in (proxy, upstream):
            if child is not None:
                child.stop()
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print_table(result["cells"])
    report(result)
    harness.write_results(args.output, result)
    shutil.rmtree(workdir, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    processes = result["processes"]
    print(
        f"\nproxy: start to healthy {processes.get('proxy_start_to_healthy_s')} s, "
        f"idle RSS {processes.get('proxy_idle_rss_mib')} MiB, "
        f"peak RSS {processes.get('proxy_peak_rss_mib')} MiB "
        f"(phase-1 process, seeding or cache check: "
        f"{processes.get('seeding_proxy_peak_rss_mib')} MiB); "
        f"upstream peak RSS {processes.get('upstream_peak_rss_mib')} MiB"
    )
    for user, seeding in result["seeding"].items():
        print(
            f"seeding {user}: {seeding.get('after')} stored, "
            f"{seeding.get('memories_per_s', 'cached')} memories/s"
        )


if __name__ == "__main__":
    main()
