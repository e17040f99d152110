"""What observability costs a call (issue 15): the injection log, the metrics and the request
line, measured with bench/overhead.py's machinery.

Two proxies run on copies of the same seeded data: one as it ships (injection log and metrics
on), one with both off (`observability.injection_log: false`, `observability.metrics: false`).
The same chat requests go to both, interleaved in ABBA blocks, memory on (read-only, so the
stored memories stay the same) for users with 1k and 10k memories, and memory off. The figure
is on-minus-off latency. The proxies log at WARNING, as bench/overhead.py runs them. Then the
per-call work the request path does for observability is timed in process.

    python bench/observability.py            # c=1 and c=16, JSON and streaming
    python bench/observability.py --quick --skip-10k

Results: a table on stdout and bench/results/observability.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import sys
import tempfile
import timeit
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import httpx

from bench import harness, overhead
from testbed.processes import Child, ProxyProcess, upstream_process

RESULTS = harness.RESULTS / "observability.json"
OFF = {
    "MEMORY_PROXY_OBSERVABILITY__INJECTION_LOG": "false",
    "MEMORY_PROXY_OBSERVABILITY__METRICS": "false",
}


def in_process_us() -> dict[str, float]:
    """Microseconds per call of what a memory call does for observability on the event loop:
    the request context, the recall hook (metrics + an injection log append) and the request's
    counters. Timed on the real objects; the log's store is a real SQLite file, never written
    here (the background flush is not running)."""
    from proxy.core.scope import Scope
    from proxy.http.turn import Recall
    from proxy.memory.storage.injections import InjectionStore
    from proxy.observe.context import begin, end
    from proxy.observe.injections import InjectionLog
    from proxy.observe.metrics import Metrics
    from proxy.observe.recall import observe_recall

    metrics = Metrics()
    folder = Path(tempfile.mkdtemp(prefix="observability-"))
    log = InjectionLog(
        InjectionStore(folder / "injections.sqlite3"),
        days=7,
        max_rows=100_000,
        max_pending=10**9,
    )
    scope = Scope("bench-user", "s1", None)
    recall = Recall(
        "injected",
        count=20,
        system_block="...",
        injected={"relevant": [f"id-{i:032d}" for i in range(20)]},
        tokens=480,
        elapsed_ms=2.1,
    )
    asgi = {"type": "http", "method": "POST", "path": "/v1/chat/completions"}

    def one_call() -> None:
        context, token = begin(asgi)
        observe_recall(metrics, log, scope, recall)
        metrics.request_done("/v1/chat/completions", "POST", 200, context.memory_status, 0.003)
        end(token)

    number = 20_000
    best = min(timeit.repeat(one_call, number=number, repeat=5)) / number
    counter = min(
        timeit.repeat(
            lambda: metrics.request_done("/v1/models", "GET", 200, None, 0.001),
            number=number,
            repeat=5,
        )
    )
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "memory_call_us": round(best * 1e6, 2),
        "request_counters_us": round(counter / number * 1e6, 2),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few requests per cell")
    parser.add_argument("--skip-10k", action="store_true", help="no 10k-memory user")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated levels")
    parser.add_argument("--modes", default="json,stream", help="json,stream")
    parser.add_argument("--requests-c1", type=int, help="requests per side at c=1 (default 400)")
    parser.add_argument("--requests", type=int, help="requests per side at c>1 (default 2000)")
    parser.add_argument("--data-dir", type=Path, default=overhead.DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def measure(
    runner: asyncio.Runner,
    on: ProxyProcess,
    off: ProxyProcess,
    sizing: argparse.Namespace,
    scenario: str,
    mode: str,
    concurrency: int,
) -> dict[str, Any]:
    """One cell: the proxy with observability off is the "direct" side of bench/overhead.py's
    interleaved cell, the proxy as it ships the other."""
    requests = overhead.requests_for(sizing, concurrency)
    cpu = {"on": harness.proc_cpu_s(on.pid), "off": harness.proc_cpu_s(off.pid)}
    cell = runner.run(
        overhead.run_cell(
            off.url,
            on,
            "chat",
            scenario,
            mode == "stream",
            concurrency,
            requests,
            overhead.block_for(sizing, concurrency, requests),
            False,
        )
    )
    row = overhead.summarise(cell, None)
    # CPU per request of each whole process (the injection log's background writes included)
    # over the cell: its warm-up and measured requests.
    served = requests + max(2 * concurrency, 20)
    used = {
        "on": harness.proc_cpu_s(on.pid) - cpu["on"],
        "off": harness.proc_cpu_s(off.pid) - cpu["off"],
    }
    row["process_cpu_ms_per_request"] = {
        side: round(seconds * 1000 / served, 3) for side, seconds in used.items()
    } | {"added": round((used["on"] - used["off"]) * 1000 / served, 3)}
    return row


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # The overhead benchmark's own sizing (requests per side, block size) for these levels.
    sizing = overhead.parse_args(
        (["--quick"] if args.quick else [])
        + (["--requests-c1", str(args.requests_c1)] if args.requests_c1 else [])
        + (["--requests", str(args.requests)] if args.requests else [])
    )
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    modes = args.modes.split(",")
    scenarios = ["off", "mem-1k"] + ([] if args.skip_10k else ["mem-10k"])
    users = {
        u: n for u, n in overhead.USERS.items() if u in {overhead.SCENARIOS[s] for s in scenarios}
    }
    workdir = Path(tempfile.mkdtemp(prefix="observability-"))
    args.data_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        **harness.run_header("observability cost: injection log + metrics on vs off"),
        "parameters": {
            "concurrency": concurrencies,
            "scenarios": scenarios,
            "modes": modes,
            "requests": {c: overhead.requests_for(sizing, c) for c in concurrencies},
            "sides": {"direct": "proxy with observability off", "proxy": "proxy as it ships"},
            "off_env": OFF,
            "users": users,
            "interleave": "ABBA blocks, as bench/overhead.py",
        },
        "seeding": {},
        "cells": [],
    }
    children: list[Child] = []
    upstream = upstream_process(workdir / "upstream.log", overhead.ANSWER).wait_ready(60)
    children.append(upstream)
    try:
        with asyncio.Runner(loop_factory=harness.loop_factory()) as runner:
            seeder = overhead.start_proxy(workdir, upstream, args.data_dir)
            try:
                for user, target in users.items():
                    result["seeding"][user] = overhead.seed_user(seeder.url, user, target, runner)
            finally:
                seeder.stop()
            copy = workdir / "data-off"
            shutil.copytree(args.data_dir, copy)
            (copy / "injections.sqlite3").unlink(missing_ok=True)
            on = overhead.start_proxy(workdir, upstream, args.data_dir)
            children.append(on)
            off = overhead.start_proxy(workdir, upstream, copy, OFF)
            children.append(off)
            for proxy in (on, off):
                overhead.wait_for_preload(proxy, len(users), 300)
            for scenario, mode, concurrency in itertools.product(scenarios, modes, concurrencies):
                row = measure(runner, on, off, sizing, scenario, mode, concurrency)
                overhead.print_table([row], header=not result["cells"], ttfb=False)
                result["cells"].append(row)
            result["metrics_bytes"] = len(httpx.get(on.url + "/metrics", timeout=10).content)
            logged = on.http.get("/memories/injections", params={"limit": 1})
            result["injection_log_answered"] = logged.status_code == 200
    finally:
        for child in children:
            child.stop()
    result["in_process_us"] = in_process_us()
    print("\nadded by observability (on minus off): p50 latency ms, process CPU ms per request")
    for r in result["cells"]:
        print(
            f"  {r['scenario']:<8} {r['mode']:<6} c={r['concurrency']:<3} "
            f"{r['added_ms']['p50']:>8} ms  {r['process_cpu_ms_per_request']['added']:>7} ms CPU"
        )
    print(f"in process, per call: {result['in_process_us']}")
    harness.write_results(args.output, result)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
