"""Standing preferences on PrefEval through the proxy's real HTTP interface (docs: bench.md §4).

Each memory user states one preference per topic (10 topics; `--per-topic 2`: two), each as its
own turn, shuffled among as many distractor turns from real LMSYS chats; the fake upstream
answers "Noted.". After a flush, every question is asked in a fresh conversation (read-only) and
the memory blocks the fake upstream received are read back. A question counts when some injected
line has at least 60% of its content words inside the preference. The same matcher run against
another user's preference of the same topic gives the chance level (reported as `control`).

    python bench/prefeval.py                   # 30 users x 10 preferences
    python bench/prefeval.py --per-topic 2     # 20 users x 20 preferences

The data (CC BY-NC) stays in ../shared/data/prefeval/: the results file holds ids only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import httpx
from tqdm import tqdm

from bench import harness
from proxy.core.tokens import estimate_tokens
from proxy.settings import RetrievalSettings
from testbed.fake_upstream import FakeUpstream

DATA = harness.ROOT.parent / "shared" / "data" / "prefeval"
TOPICS = [
    "education_learning_styles",
    "entertain_games",
    "entertain_shows",
    "lifestyle_beauty",
    "lifestyle_fit",
    "pet_ownership",
    "shop_fashion",
    "shop_motors",
    "travel_activities",
    "travel_restaurant",
]
WORD = re.compile(r"[a-z0-9]+")
LINE = re.compile(r"^- (?:\[\d{4}-\d{2}-\d{2}\] )?(.*)$", re.MULTILINE)
STOP = frozenset(
    "a about above after again against all am an and any are as at be because been before being "
    "below between both but by can did do does doing don down during each few for from further "
    "had has have having he her here hers herself him himself his how i if in into is it its "
    "itself just me more most my myself no nor not now of off on once only or other our ours out "
    "over own same she should so some such than that the their them then there these they this "
    "those through to too under until up very was we were what when where which while who whom "
    "why will with you your yours i'm i've don't prefer like really much".split()
)


def content(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOP}


def reached(preference: str, lines: list[str], share: float = 0.6) -> bool:
    wanted = content(preference)
    for line in lines:
        words = content(line)
        if words and len(words & wanted) >= share * len(words):
            return True
    return False


@dataclass(frozen=True)
class Probe:
    user: str
    topic: str
    index: int  # position of the preference in the topic file
    question: str
    preference: str
    control: str  # another user's preference of the same topic (chance level)


def distractors(data: Path, limit_chars: tuple[int, int] = (20, 1500)) -> list[str]:
    chats = json.loads((data / "filtered_inter_turns.json").read_text())
    turns = [
        m["content"]
        for chat in chats
        for m in chat["conversation"]
        if m["role"] == "user" and limit_chars[0] <= len(m["content"]) <= limit_chars[1]
    ]
    return turns


def plan(
    data: Path, per_topic: int, users: int, seed: int
) -> tuple[dict[str, list[str]], list[Probe]]:
    """Each user's turns (preferences shuffled among distractors) and the probes to ask."""
    rng = random.Random(seed)
    topics = {t: json.loads((data / f"{t}.json").read_text()) for t in TOPICS}
    pool = distractors(data)
    turns: dict[str, list[str]] = {}
    probes: list[Probe] = []
    for u in range(users):
        user = f"prefeval-{per_topic}-{u}"
        said: list[str] = []
        for topic, pairs in topics.items():
            for k in range(per_topic):
                index = u * per_topic + k
                pair = pairs[index % len(pairs)]
                other = pairs[(index + per_topic) % len(pairs)]
                said.append(pair["preference"])
                probes.append(
                    Probe(
                        user,
                        topic,
                        index % len(pairs),
                        pair["question"],
                        pair["preference"],
                        other["preference"],
                    )
                )
        mixed = said + rng.sample(pool, len(said))
        rng.shuffle(mixed)
        turns[user] = mixed
    return turns, probes


async def ingest(client: httpx.AsyncClient, turns: dict[str, list[str]], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=sum(map(len, turns.values())), desc="ingest", unit="turn")

    async def one_user(user: str, texts: list[str]) -> None:
        for text in texts:  # in order: a user's turns are a conversation over time
            async with gate:
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": "ingest", "messages": [{"role": "user", "content": text}]},
                    headers={"x-user-id": user, "x-memory-mode": "write-only"},
                )
                response.raise_for_status()
            bar.update()

    await asyncio.gather(*(one_user(u, t) for u, t in turns.items()))
    bar.close()
    await asyncio.to_thread(harness.flush, str(client.base_url))


async def ask(
    client: httpx.AsyncClient, upstream: FakeUpstream, probes: list[Probe]
) -> list[dict[str, Any]]:
    rows = []
    for n, probe in enumerate(tqdm(probes, desc="ask", unit="question")):
        tag = f"probe-{n}"
        started = time.perf_counter()
        response = await client.post(
            "/v1/chat/completions",
            json={"model": tag, "messages": [{"role": "user", "content": probe.question}]},
            headers={"x-user-id": probe.user, "x-memory-mode": "read-only"},
        )
        response.raise_for_status()
        elapsed = (time.perf_counter() - started) * 1000
        seen = next(r for r in reversed(upstream.chat_requests()) if r.json.get("model") == tag)
        text = seen.memory_text()
        lines = LINE.findall(text)
        rows.append(
            {
                "user": probe.user,
                "topic": probe.topic,
                "index": probe.index,
                "reached": reached(probe.preference, lines),
                "control": reached(probe.control, lines),
                "tokens": estimate_tokens(text),
                "lines": len(lines),
                "ms": round(elapsed, 2),
            }
        )
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_topic: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_topic[row["topic"]].append(row["reached"])
    tokens = sorted(row["tokens"] for row in rows)
    return {
        "questions": len(rows),
        "recall": round(sum(r["reached"] for r in rows) / len(rows), 3),
        "control": round(sum(r["control"] for r in rows) / len(rows), 3),
        "per_topic": {t: round(sum(v) / len(v), 3) for t, v in sorted(by_topic.items())},
        "tokens_mean": round(statistics.fmean(tokens), 1),
        "tokens_p95": tokens[int(0.95 * (len(tokens) - 1))],
        "lines_mean": round(statistics.fmean(r["lines"] for r in rows), 2),
        "ms_p50": round(statistics.median(r["ms"] for r in rows), 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    users = args.users or (30 if args.per_topic == 1 else 20)
    turns, probes = plan(args.data, args.per_topic, users, args.seed)
    upstream = FakeUpstream(reply=lambda body: "Noted.")
    overrides: dict[str, Any] = {"token_budget": args.budget}
    if args.profile_budget is not None:
        overrides["profile_budget"] = args.profile_budget
    header = harness.run_header("prefeval (docs/bench.md §4)")
    with (
        tempfile.TemporaryDirectory(prefix="prefeval-") as tmp,
        harness.proxy_in_thread(
            upstream, Path(tmp), retrieval=overrides, inject={"placement": args.placement}
        ) as running,
    ):
        async with httpx.AsyncClient(base_url=running.url, timeout=900) as client:
            started = time.perf_counter()
            await ingest(client, turns, args.concurrency)
            ingest_s = time.perf_counter() - started
            stored = sum(len(harness.list_memories(running.url, user)) for user in turns)
            rows = await ask(client, upstream, probes)
    return {
        **header,
        "per_topic": args.per_topic,
        "users": users,
        "settings": {**RetrievalSettings(**overrides).model_dump(), "placement": args.placement},
        "turns": sum(map(len, turns.values())),
        "memories_stored": stored,
        "ingest_s": round(ingest_s, 1),
        **summarise(rows),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the PrefEval folder")
    parser.add_argument("--per-topic", type=int, choices=[1, 2], default=1)
    parser.add_argument("--users", type=int, help="default 30 (20 with --per-topic 2)")
    parser.add_argument("--budget", type=int, default=600, help="retrieval.token_budget")
    parser.add_argument("--profile-budget", type=int, help="retrieval.profile_budget")
    parser.add_argument("--placement", choices=["system", "cache-aware"], default="cache-aware")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, help="results file (default bench/results/...)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(json.dumps(summary, indent=1))
    harness.write_results(args.out or harness.RESULTS / f"prefeval-{args.per_topic}.json", result)


if __name__ == "__main__":
    main()
