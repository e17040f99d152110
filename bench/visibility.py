"""Write visibility: time from the end of a chat answer until the new memory is found.

The proxy answers first and writes afterwards (off the response path); this measures how long
that "afterwards" is with the offline extractor: each turn states a unique fact, and the memory
search is polled until the fact is found. Also reports ingest throughput (turns/s to flushed).

    python bench/visibility.py [--turns 200] [--output bench/results/visibility.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import httpx

from proxy.app import create_app
from proxy.settings import Settings
from tests.fake_upstream import FakeUpstream
from tests.servers import ServerThread

WORDS = [
    "amber",
    "birch",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "iris",
    "juniper",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def visible_after(http: httpx.Client, user: str, name: str, deadline_s: float) -> float | None:
    """Seconds until a search for the fact finds it (polled as fast as the server answers)."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        hits = http.post(
            "/memories/search", json={"user_id": user, "query": f"pet named {name}", "k": 5}
        ).json()["data"]
        if any(name in hit["text"] for hit in hits):
            return time.perf_counter() - started
    return None


def run(turns: int) -> dict[str, Any]:
    upstream = FakeUpstream()
    with ServerThread(upstream.app) as fake, tempfile.TemporaryDirectory() as data:
        settings = Settings(upstream_url=f"{fake.url}/v1", data_dir=Path(data))
        with (
            ServerThread(create_app(settings)) as proxy,
            httpx.Client(base_url=proxy.url, timeout=30) as http,
        ):
            delays: list[float] = []
            missing = 0
            for i in range(turns):
                user = f"vis-{i % 10}"
                name = f"{WORDS[i % len(WORDS)]}{i}"
                response = http.post(
                    "/v1/chat/completions",
                    headers={"x-user-id": user},
                    json={
                        "model": "m",
                        "messages": [{"role": "user", "content": f"I have a pet named {name}."}],
                    },
                )
                response.raise_for_status()
                delay = visible_after(http, user, name, deadline_s=10.0)
                if delay is None:
                    missing += 1
                else:
                    delays.append(delay * 1000)
            # Throughput: a burst of turns, then flush.
            started = time.perf_counter()
            for i in range(turns):
                http.post(
                    "/v1/chat/completions",
                    headers={"x-user-id": f"burst-{i % 10}", "x-memory-mode": "write-only"},
                    json={
                        "model": "m",
                        "messages": [
                            {"role": "user", "content": f"I collect stamps from {name}{i}."}
                        ],
                    },
                ).raise_for_status()
            http.post("/memories/flush", params={"timeout": 600}).raise_for_status()
            burst_s = time.perf_counter() - started
    return {
        "benchmark": "write visibility (docs/bench.md §3)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "turns": turns,
        "visible_ms": {
            "p50": round(statistics.median(delays), 1),
            "p95": round(percentile(delays, 0.95), 1),
            "max": round(max(delays), 1),
        },
        "not_visible_within_10s": missing,
        "ingest_turns_per_s": round(turns / burst_s, 1),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--output", type=Path, default=Path("bench/results/visibility.json"))
    args = parser.parse_args()
    result = run(args.turns)
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
