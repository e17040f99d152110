"""Prompt-cache friendliness: how much of each request of a conversation is a prefix of the next.

Providers bill a cached prompt prefix at a fraction of the price, and clients resend the whole
conversation every turn, so a request that extends the previous one byte for byte is what keeps
the cache warm. Users with stored memories hold conversations of 10 to 30 turns through the proxy
(the client resending its history, questions touching different memories); for each pair of
consecutive requests, the longest common prefix of their serialized messages (as the fake
upstream received them) is taken as a share of the earlier one. Three arms in one run: memory
off, every tier in the system message (`inject.placement: system`), and the cache-aware
placement. Also reported: the memories each request carried, so that the placements can be
compared on what reaches the model, not only on where it sits.

    python bench/cache.py                      # 12 users, conversations of 10-30 turns
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import httpx

from bench import harness
from testbed.fake_upstream import FakeUpstream

LINE = re.compile(r"^- (?:\[\d{4}-\d{2}-\d{2}\] )?(.*)$", re.MULTILINE)

# (fact, a question about it): facts are profile items and episodes of many kinds.
FACTS = [
    ("I'm allergic to peanuts.", "Can you suggest a snack without peanuts?"),
    ("I prefer short answers.", "Give me a tip for writing shorter answers."),
    ("I live in Lisbon.", "What should I visit in Lisbon this weekend?"),
    (
        "I work as a nurse in a children's hospital.",
        "How do I stay calm as a nurse on night shifts?",
    ),
    ("My sister Ana lives in Porto.", "What gift should I bring my sister Ana in Porto?"),
    ("I adopted a grey cat named Pixel in March.", "How often should Pixel the cat see a vet?"),
    ("My car is a blue 2015 Honda Civic.", "When should my Honda Civic get new tires?"),
    (
        "I booked a dentist appointment for the 14th.",
        "What should I ask at the dentist appointment?",
    ),
    ("I'm training for a half marathon in October.", "How many runs a week for a half marathon?"),
    ("I play the cello in a community orchestra.", "How do I keep my cello in tune?"),
    (
        "My daughter Mia started school in September.",
        "How can I help Mia with her school homework?",
    ),
    ("I use TypeScript at work.", "How do I type a function that takes a callback in TypeScript?"),
    ("I broke my phone screen last week.", "Should I repair the phone screen or buy a new phone?"),
    ("We are renovating our kitchen.", "Which kitchen countertops are easy to clean?"),
    ("I'm learning Japanese on weekends.", "How do I memorise Japanese kanji faster?"),
    ("My grandmother turns 90 in June.", "Ideas for my grandmother's 90th birthday party?"),
]
SMALL_TALK = [
    "Thanks, that helps.",
    "Can you say that more simply?",
    "What else should I know?",
    "Give me one more example.",
    "OK, and after that?",
]


def conversation(rng: random.Random, turns: int) -> list[str]:
    """A user's messages: questions touching different memories, with small talk between."""
    out = []
    for _ in range(turns):
        if rng.random() < 0.3:
            out.append(rng.choice(SMALL_TALK))
        else:
            out.append(rng.choice(FACTS)[1])
    return out


def lcp_share(earlier: str, later: str) -> float:
    """The longest common prefix of two serialized requests, as a share of the earlier one."""
    limit = min(len(earlier), len(later))
    n = 0
    step = 4096
    while n < limit:  # compare in blocks, then finish the last one by bytes
        end = min(n + step, limit)
        if earlier[n:end] == later[n:end]:
            n = end
            continue
        while n < end and earlier[n] == later[n]:
            n += 1
        break
    return n / len(earlier) if earlier else 1.0


async def converse(
    client: httpx.AsyncClient,
    upstream: FakeUpstream,
    user: str,
    messages: list[str],
    mode: str,
) -> tuple[list[float], list[int]]:
    history: list[dict[str, Any]] = [{"role": "system", "content": "You are a helpful assistant."}]
    sent: list[str] = []
    carried: list[int] = []
    for n, text in enumerate(messages):
        tag = f"{user}/{mode}/{n}"
        history.append({"role": "user", "content": text})
        response = await client.post(
            "/v1/chat/completions",
            json={"model": tag, "messages": history},
            headers={"x-user-id": user, "x-memory-mode": "read-only" if mode != "off" else "off"},
        )
        response.raise_for_status()
        answer = response.json()["choices"][0]["message"]["content"]
        history.append({"role": "assistant", "content": answer})
        seen = next(r for r in reversed(upstream.chat_requests()) if r.json.get("model") == tag)
        sent.append(json.dumps(seen.json["messages"], ensure_ascii=False, separators=(",", ":")))
        carried.append(len(set(LINE.findall(seen.memory_text()))))
    shares = [lcp_share(a, b) for a, b in itertools.pairwise(sent)]
    return shares, carried


async def arm(
    placement: str | None, users: int, seed: int, data_dir: Path, upstream: FakeUpstream
) -> dict[str, Any]:
    rng = random.Random(seed)
    mode = "off" if placement is None else placement
    inject = {"placement": placement or "cache-aware"}
    with harness.proxy_in_thread(upstream, data_dir, inject=inject) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=120) as client:
            await seed_users(client, users)
            shares: list[float] = []
            carried: list[int] = []
            per_conversation: list[float] = []
            for u in range(users):
                messages = conversation(rng, rng.randint(10, 30))
                got, memories = await converse(client, upstream, f"cache-{u}", messages, mode)
                shares += got
                carried += memories
                per_conversation.append(statistics.fmean(got))
    ordered = sorted(shares)
    return {
        "requests": len(carried),
        "prefix_reuse_mean": round(statistics.fmean(shares), 4),
        "prefix_reuse_p10": round(ordered[len(ordered) // 10], 4),
        "prefix_reuse_min": round(ordered[0], 4),
        "worst_conversation_mean": round(min(per_conversation), 4),
        "memories_per_request_mean": round(statistics.fmean(carried), 2),
    }


async def seed_users(client: httpx.AsyncClient, users: int) -> None:
    """Every user has told every fact, a month ago (so that nothing counts as recent)."""
    when = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    for u in range(users):
        for fact, _ in FACTS:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "seed", "messages": [{"role": "user", "content": fact}]},
                headers={
                    "x-user-id": f"cache-{u}",
                    "x-memory-mode": "write-only",
                    "x-memory-time": when,
                },
            )
            response.raise_for_status()
    await asyncio.to_thread(harness.flush, str(client.base_url))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    upstream = FakeUpstream(reply=lambda body: "Here is a short, helpful answer to that.")
    header = harness.run_header("prompt-cache prefix reuse")
    arms: dict[str, Any] = {}
    for name, placement in (
        ("memory off", None),
        ("system", "system"),
        ("cache-aware", "cache-aware"),
    ):
        with tempfile.TemporaryDirectory(prefix="cache-") as tmp:
            arms[name] = await arm(placement, args.users, args.seed, Path(tmp), upstream)
            print(name, arms[name], flush=True)
    return {
        **header,
        "users": args.users,
        "facts_per_user": len(FACTS),
        "arms": arms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "cache.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"{'arm':<12} {'reuse mean':>10} {'p10':>7} {'min':>7} {'memories/request':>17}")
    for name, figures in result["arms"].items():
        print(
            f"{name:<12} {figures['prefix_reuse_mean']:>10.3f} {figures['prefix_reuse_p10']:>7.3f}"
            f" {figures['prefix_reuse_min']:>7.3f} {figures['memories_per_request_mean']:>17.2f}"
        )
    harness.write_results(args.out, result)


if __name__ == "__main__":
    main()
