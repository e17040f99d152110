"""Write visibility: time from the end of a chat answer until the new memory is found.

The proxy answers first and writes afterwards (off the response path); this measures how long
that "afterwards" is with the offline extractor: each turn states a unique fact, and the memory
search is polled until the fact is found. Also reports ingest throughput (turns/s to flushed).

    python bench/visibility.py [--turns 200] [--output bench/results/visibility.json]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import httpx

from bench import harness
from bench.words import made_up_name
from testbed.fake_upstream import FakeUpstream


def visible_after(http: httpx.Client, user: str, name: str, deadline_s: float) -> float | None:
    """Seconds until a search for the fact finds it (polled as fast as the server answers)."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        query = {"user_id": user, "query": f"pet named {name}", "k": 5}
        hits = http.post("/memories/search", json=query).json()["data"]
        if any(name in hit["text"] for hit in hits):
            return time.perf_counter() - started
    return None


def run(turns: int) -> dict[str, Any]:
    rng = random.Random(0)
    names = list(dict.fromkeys(made_up_name(rng, 3) for _ in range(4 * turns)))[: 2 * turns]
    delays: list[float] = []
    with (
        tempfile.TemporaryDirectory() as data,
        harness.proxy_in_thread(FakeUpstream(), Path(data)) as running,
        httpx.Client(base_url=running.url, timeout=30) as http,
    ):
        for i, name in enumerate(names[:turns]):
            user = f"vis-{i % 10}"
            body = harness.chat_body(f"I have a pet named {name}.")
            http.post(
                "/v1/chat/completions", headers={"x-user-id": user}, json=body
            ).raise_for_status()
            delay = visible_after(http, user, name, deadline_s=10.0)
            if delay is not None:
                delays.append(delay)
        # Throughput: a burst of turns, then flush.
        started = time.perf_counter()
        for i, name in enumerate(names[turns:]):
            headers = {"x-user-id": f"burst-{i % 10}", "x-memory-mode": "write-only"}
            body = harness.chat_body(f"I collect stamps from {name}.")
            http.post("/v1/chat/completions", headers=headers, json=body).raise_for_status()
        harness.flush(running.url)
        burst_s = time.perf_counter() - started
    return {
        **harness.run_header("write visibility (docs/bench.md §3)"),
        "turns": turns,
        "visible_ms": {
            "p50": round(harness.percentile(delays, 50) or 0, 1),
            "p95": round(harness.percentile(delays, 95) or 0, 1),
            "max": round(max(delays, default=0) * 1000, 1),
        },
        "not_visible_within_10s": turns - len(delays),
        "ingest_turns_per_s": round(turns / burst_s, 1),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--output", type=Path, default=harness.RESULTS / "visibility.json")
    args = parser.parse_args()
    result = run(args.turns)
    print(f"visible after p50 {result['visible_ms']['p50']} ms, p95 {result['visible_ms']['p95']}")
    print(f"ingest {result['ingest_turns_per_s']} turns/s; {result['not_visible_within_10s']} late")
    harness.write_results(args.output, result)


if __name__ == "__main__":
    main()
