"""Isolation under load: many users talk at once, each telling unique facts; every retrieval and
every listing is checked for facts of another user. Any such fact is a leak; there must be none.

All users share the same sentence shapes (only a made-up name differs), so a read that lost its
user filter would find other users' facts at once. Three phases:

1. write: every user sends its turns concurrently (each turn one new fact; each turn also
   retrieves, and that retrieval is checked too);
2. ask (read-only): each user asks about each of its own facts (recall) and about a fact of
   another user (must inject nothing of that user);
3. list: GET /memories of each user holds only that user's facts.

The fake upstream answers with the memory block it was given, so the client sees exactly what
was injected into each call.

    python bench/isolation.py                        # 100 users x 100 turns
    python bench/isolation.py --users 10 --turns 10  # a quick run

Results: a summary on stdout and bench/results/isolation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import httpx

from bench import harness
from bench.words import made_up_name
from testbed.fake_upstream import FakeUpstream
from testbed.processes import ProxyProcess
from testbed.servers import ServerThread

# No template states a single-valued attribute (where one lives, one's job, a favourite):
# the proxy would let the newest supersede the others.
TEMPLATES = (
    "I planted a tree named {} in my garden.",
    "My neighbour keeps a parrot called {}.",
    "I keep a kite named {} in the attic.",
    "I grow tomatoes of a variety called {} on my balcony.",
    "My sister plays the oboe in a band called {}.",
    "I keep a lantern named {} in the shed.",
    "My bicycle is nicknamed {}.",
    "I collect stamps from a village called {}.",
    "Our sailing boat is named {}.",
    "My grandmother knits scarves for a cat named {}.",
)
WORD = re.compile(r"\b[A-Z][a-z]{9}\b")  # the made-up names: five syllables, capitalised


BLOCK = re.compile(r"<memories>.*?</memories>", re.DOTALL)


def echo_memories(body: dict[str, Any]) -> str:
    """The fake upstream's answer: the memory blocks it was given, wherever they sit (the
    system message, or the user's message with the cache-aware placement); empty if none."""
    texts: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content or []
        texts += [p if isinstance(p, str) else str(p.get("text", "")) for p in parts]
    return "\n".join(block for text in texts for block in BLOCK.findall(text))


@dataclass
class Facts:
    by_user: dict[str, list[str]]  # user -> made-up names, in the order told
    owner: dict[str, str]  # made-up name -> user
    text: dict[str, str]  # made-up name -> sentence


def make_facts(users: int, turns: int, seed: int) -> Facts:
    rng = random.Random(seed)
    owner: dict[str, str] = {}
    by_user: dict[str, list[str]] = {}
    text: dict[str, str] = {}
    for u in range(users):
        user = f"iso-{seed}-{u:03d}"
        names: list[str] = []
        for t in range(turns):
            while (name := made_up_name(rng)) in owner:
                pass
            owner[name] = user
            text[name] = TEMPLATES[(u + t) % len(TEMPLATES)].format(name)
            names.append(name)
        by_user[user] = names
    return Facts(by_user, owner, text)


@dataclass
class Report:
    users: int
    turns: int
    chats: int = 0
    failed_requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # what went wrong, by kind
    failure_examples: list[str] = field(default_factory=list)
    transport_retries: int = 0  # client-side retries of a dropped connection
    retrievals_checked: int = 0
    memories_injected: int = 0
    leaks_injected: int = 0  # a fact of another user in a call's memory block
    own_facts_asked: int = 0
    own_facts_recalled: int = 0  # the asked fact was in the block
    foreign_facts_asked: int = 0
    listings_checked: int = 0
    memories_listed: int = 0
    leaks_listed: int = 0  # a fact of another user in GET /memories
    leak_examples: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def leaks(self) -> int:
        return self.leaks_injected + self.leaks_listed


class Checker:
    def __init__(self, facts: Facts, report: Report) -> None:
        self.facts = facts
        self.report = report

    def injected(self, user: str, block: str) -> set[str]:
        """Check one retrieval; returns the made-up names the block held."""
        self.report.retrievals_checked += 1
        names = {name for name in WORD.findall(block) if name in self.facts.owner}
        self.report.memories_injected += sum(1 for line in block.splitlines() if line[:2] == "- ")
        for name in names:
            if self.facts.owner[name] != user:
                self.report.leaks_injected += 1
                self._example(f"{user} was given {self.facts.owner[name]}'s {name!r}")
        return names

    def listed(self, user: str, texts: list[str]) -> None:
        self.report.listings_checked += 1
        self.report.memories_listed += len(texts)
        for text in texts:
            for name in WORD.findall(text):
                if self.facts.owner.get(name, user) != user:
                    self.report.leaks_listed += 1
                    self._example(f"{user} lists {self.facts.owner[name]}'s {name!r}")

    def _example(self, what: str) -> None:
        if len(self.report.leak_examples) < 20:
            self.report.leak_examples.append(what)


async def _chat(
    client: httpx.AsyncClient, report: Report, user: str, text: str, mode: str
) -> str | None:
    """One chat call; the answer is the memory block the upstream saw. A connection that drops
    before any answer (the keep-alive race every HTTP client meets) is retried once, as the
    OpenAI SDKs do; retries are counted."""
    report.chats += 1
    for attempt in (1, 2):
        try:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": text}]},
                headers={"x-user-id": user, "x-memory-mode": mode},
            )
            break
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if attempt == 1:
                report.transport_retries += 1
                continue
            _failed(report, f"{type(exc).__name__} (memory {mode})", repr(exc))
            return None
        except httpx.HTTPError as exc:
            _failed(report, f"{type(exc).__name__} (memory {mode})", repr(exc))
            return None
    if response.status_code != 200:
        _failed(report, f"HTTP {response.status_code} (memory {mode})", response.text[:300])
        return None
    return str(response.json()["choices"][0]["message"]["content"] or "")


def _failed(report: Report, kind: str, detail: str = "") -> None:
    report.failed_requests += 1
    report.failures[kind] = report.failures.get(kind, 0) + 1
    if len(report.failure_examples) < 10:
        report.failure_examples.append(f"{kind}: {detail}")


async def run_isolation(
    proxy_url: str,
    users: int,
    turns: int,
    seed: int = 0,
    concurrency: int = 100,
    flush_deadline_s: float = 3600.0,
) -> Report:
    """Run the three phases against a proxy whose upstream answers with `echo_memories`."""
    facts = make_facts(users, turns, seed)
    report = Report(users=users, turns=turns)
    check = Checker(facts, report)
    rng = random.Random(seed + 1)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=proxy_url, timeout=120, limits=limits, trust_env=False
    ) as client:

        async def tell_all(user: str) -> None:
            for name in facts.by_user[user]:
                async with gate:
                    block = await _chat(client, report, user, facts.text[name], "on")
                if block is not None:
                    check.injected(user, block)

        async def ask_all(user: str) -> None:
            others = [u for u in facts.by_user if u != user]
            for name in facts.by_user[user]:
                async with gate:
                    block = await _chat(client, report, user, f"Tell me about {name}.", "read-only")
                if block is not None:
                    report.own_facts_asked += 1
                    report.own_facts_recalled += name in check.injected(user, block)
                if not others:
                    continue
                foreign = rng.choice(facts.by_user[rng.choice(others)])
                async with gate:
                    block = await _chat(
                        client, report, user, f"Tell me about {foreign}.", "read-only"
                    )
                if block is not None:
                    report.foreign_facts_asked += 1
                    check.injected(user, block)

        async def list_one(user: str) -> None:
            async with gate:
                response = await client.get("/memories", params={"user_id": user, "limit": 1000})
            if response.status_code != 200:
                _failed(report, f"list: HTTP {response.status_code}")
                return
            check.listed(user, [m["text"] for m in response.json()["data"]])

        started = time.perf_counter()
        await asyncio.gather(*(tell_all(user) for user in facts.by_user))
        report.seconds["write"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await asyncio.to_thread(harness.flush, proxy_url, flush_deadline_s)
        report.seconds["flush"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await asyncio.gather(*(ask_all(user) for user in facts.by_user))
        report.seconds["ask"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await asyncio.gather(*(list_one(user) for user in facts.by_user))
        report.seconds["list"] = round(time.perf_counter() - started, 1)
    return report


def summary(report: Report) -> str:
    recall = report.own_facts_recalled / max(1, report.own_facts_asked)
    return "\n".join(
        [
            f"users x turns:          {report.users} x {report.turns}",
            f"chat calls:             {report.chats}"
            f" ({report.failed_requests} failed: {report.failures or 'none'};"
            f" {report.transport_retries} dropped connections retried)",
            f"retrievals checked:     {report.retrievals_checked}",
            f"memories injected:      {report.memories_injected}",
            f"own facts recalled:     {report.own_facts_recalled}/{report.own_facts_asked}"
            f" ({recall:.1%})",
            f"foreign facts asked:    {report.foreign_facts_asked}",
            f"listings checked:       {report.listings_checked}"
            f" ({report.memories_listed} memories)",
            f"LEAKS:                  {report.leaks} ({report.leaks_injected} injected,"
            f" {report.leaks_listed} listed)",
            f"seconds:                {report.seconds}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "isolation.json")
    args = parser.parse_args()

    header = harness.run_header("isolation under load")
    upstream = FakeUpstream(reply=echo_memories, keep=0)  # no need to keep 30k requests
    workdir = Path(tempfile.mkdtemp(prefix="memory-proxy-isolation-"))
    with ServerThread(upstream.app) as upstream_server:
        # The proxy in its own process: the load generated here shares no GIL with it.
        proxy = ProxyProcess(f"{upstream_server.url}/v1", workdir / "data", workdir / "proxy.log")
        try:
            proxy.wait_ready()
            started = time.perf_counter()
            report = asyncio.run(
                run_isolation(proxy.url, args.users, args.turns, args.seed, args.concurrency)
            )
            total = round(time.perf_counter() - started, 1)
        finally:
            proxy.close()
    log = (workdir / "proxy.log").read_text(errors="replace")
    over_budget = log.count("memory retrieval exceeded")  # failed open: answered bare
    print(summary(report))
    print(f"retrievals over budget: {over_budget} (answered without memory)")
    print(f"total seconds:          {total}")
    result = header | {"total_seconds": total, "retrievals_over_budget": over_budget}
    harness.write_results(args.out, result | asdict(report) | {"leaks": report.leaks})
    if report.leaks or report.failed_requests:
        print(f"data and proxy log kept in {workdir}")
        raise SystemExit(1)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
