"""Relevance in Chinese and across languages, through the proxy's real HTTP interface (issue 18).

Tells the probe set's events (bench/multilingual_probes.py: a Chinese user, a user mixing
Chinese and English) through `POST /v1/chat/completions` (write-only, dated with X-Memory-Time),
flushes, checks with `GET /memories` that each event became a memory, then asks paraphrased
questions that share no content word with their answer, each in a fresh conversation
(read-only), and reads at the fake upstream every memory line the model received.

    python bench/multilingual.py
    MEMORY_PROXY_RETRIEVAL__TOKEN_BUDGET=300 python bench/multilingual.py --out /tmp/m.json

Scored per direction (zh->zh, en->zh, zh->en, en->en as a control): recall (share of target
events injected), events injected; unrelated questions (asked of every user): the share that got
any event; narrow questions (one target): the share of the user's events injected. Profile facts
(standing, injected by design) are counted apart. Added latency is proxy minus direct to the same
fake upstream, paired, per question language.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import argparse
import logging
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import harness
from bench.multilingual_probes import EVENTS, PROFILE, QUESTIONS, UNRELATED, USERS, Question
from bench.multilingual_score import (
    Asked,
    Probe,
    blocks_of,
    lines_of,
    percentile,
    summarise_targeted,
    summarise_unrelated,
)
from bench.multilingual_store import check_store
from proxy.core.tokens import estimate_tokens
from testbed.fake_upstream import FakeUpstream

PROFILE_DAYS_AGO = 200  # profile facts are told first, long ago
DIRECTIONS = ("zh->zh", "en->zh", "zh->en", "en->en")


def tell(proxy: httpx.Client, user: str, text: str, when: datetime) -> None:
    response = proxy.post(
        "/v1/chat/completions",
        json={"model": "tell", "messages": [{"role": "user", "content": text}]},
        headers={
            "X-User-Id": user,
            "X-Memory-Mode": "write-only",
            "X-Memory-Time": when.isoformat(timespec="seconds"),
        },
    )
    response.raise_for_status()


def ingest(proxy: httpx.Client, now: datetime) -> float:
    """Every profile fact and event, oldest first, then flush; returns seconds taken."""
    started = time.perf_counter()
    told = [(p.user, PROFILE_DAYS_AGO, p.text) for p in PROFILE]
    told += [(e.user, e.days_ago, e.text) for e in EVENTS]
    for user, days, text in sorted(told, key=lambda row: -row[1]):
        tell(proxy, user, text, now - timedelta(days=days))
    harness.flush(str(proxy.base_url))
    return time.perf_counter() - started


_LANG = {e.id: e.lang for e in EVENTS}


def direction(question: Question) -> str:
    langs = {_LANG[t] for t in question.targets}
    return f"{question.lang}->{langs.pop()}" if len(langs) == 1 else f"{question.lang}->mixed"


def ask(
    proxy: httpx.Client,
    upstream: FakeUpstream,
    question: Question,
    user: str,
    probes: Mapping[str, Probe],
) -> Asked:
    tag = f"ask/{question.id}/{user}"
    response = proxy.post(
        "/v1/chat/completions",
        json={"model": tag, "messages": [{"role": "user", "content": question.text}]},
        headers={"X-User-Id": user, "X-Memory-Mode": "read-only"},
    )
    response.raise_for_status()
    seen = upstream.last_chat()  # one request at a time
    assert seen.json["model"] == tag, "the upstream saw another request"
    blocks = blocks_of(seen.json)
    count = response.headers.get("x-memory-count")
    return Asked(
        question=question.id,
        user=user,
        lang=question.lang,
        direction=direction(question) if question.targets else "unrelated",
        targets=question.targets,
        lines=lines_of(blocks),
        tokens=sum(estimate_tokens(b) for b in blocks),
        header_count=int(count) if count and count.isdigit() else None,
    ).classify(probes)


def added_latency(
    proxy: httpx.Client, direct: httpx.Client, asks: list[tuple[Question, str]], repeats: int
) -> tuple[dict[str, dict[str, float]], dict[tuple[str, str], float]]:
    """Proxy minus direct in ms, paired: per question language, and the median per ask. Each
    request is a new conversation (a distinct system message): a repeated one would be served
    from the conversation's blocks."""
    added: dict[str, list[float]] = defaultdict(list)
    proxied: dict[str, list[float]] = defaultdict(list)
    per_ask: dict[tuple[str, str], list[float]] = defaultdict(list)
    n = 0
    for _ in range(repeats):
        for question, user in asks:
            n += 1
            body = {
                "model": "latency",
                "messages": [
                    {"role": "system", "content": f"Conversation {n}."},
                    {"role": "user", "content": question.text},
                ],
            }
            headers = {"X-User-Id": user, "X-Memory-Mode": "read-only"}
            sides = [("direct", direct, {}), ("proxy", proxy, headers)]
            took: dict[str, float] = {}
            for name, client, extra in sides if n % 2 else sides[::-1]:
                t0 = time.perf_counter()
                client.post("/v1/chat/completions", json=body, headers=extra).raise_for_status()
                took[name] = time.perf_counter() - t0
            added[question.lang].append((took["proxy"] - took["direct"]) * 1000)
            proxied[question.lang].append(took["proxy"] * 1000)
            per_ask[question.id, user].append((took["proxy"] - took["direct"]) * 1000)
    by_lang = {
        lang: {
            "n": len(values),
            "added_p50_ms": percentile(values, 50),
            "added_p99_ms": percentile(values, 99),
            "proxy_p50_ms": percentile(proxied[lang], 50),
        }
        for lang, values in sorted(added.items())
    }
    return by_lang, {key: percentile(values, 50) for key, values in per_ask.items()}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    upstream = FakeUpstream(reply=lambda body: "好的。")
    digest = harness.code_digest()
    with (
        tempfile.TemporaryDirectory(prefix="multilingual-") as tmp,
        harness.proxy_in_thread(upstream, Path(tmp)) as running,
        httpx.Client(base_url=running.url, timeout=120, trust_env=False) as proxy,
        httpx.Client(base_url=running.upstream_url, timeout=120, trust_env=False) as direct,
    ):
        result = run(args, proxy, direct, upstream)
    return {
        "proxy_code_sha256": digest,
        "settings": without_keys(running.settings.model_dump(mode="json")),
        **result,
    }


def without_keys(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as measured, without credentials or this run's addresses."""
    return {
        name: without_keys(value) if isinstance(value, dict) else value
        for name, value in settings.items()
        if "key" not in name and name not in ("upstream_url", "data_dir", "host", "port")
    }


def run(
    args: argparse.Namespace, proxy: httpx.Client, direct: httpx.Client, upstream: FakeUpstream
) -> dict[str, Any]:
    ingest_s = ingest(proxy, datetime.now(UTC))
    probes, store = check_store(proxy)
    events_per_user = Counter(p.user for p in probes.values() if p.kind == "event")
    stored = {p.id for p in probes.values() if p.kind == "event"}
    asks = [(q, q.user) for q in QUESTIONS] + [(q, u) for q in UNRELATED for u in USERS]
    rows = [ask(proxy, upstream, q, u, probes) for q, u in asks]
    targeted = [r for r in rows if r.targets]
    unrelated = [r for r in rows if not r.targets]
    narrow = [r for r in targeted if len(r.targets) == 1]
    by_direction = {d: [r for r in targeted if r.direction == d] for d in DIRECTIONS}
    latency, per_ask = (
        added_latency(proxy, direct, asks, args.repeats) if args.repeats else ({}, {})
    )
    return {
        "probes": {
            "events": len(EVENTS),
            "profile_facts": len(PROFILE),
            "targeted_questions": len(QUESTIONS),
            "unrelated_asks": len(unrelated),
            "events_per_user_stored": dict(events_per_user),
        },
        "store": store | {"ingest_s": round(ingest_s, 2)},
        "targeted": {
            "all": summarise_targeted(targeted, events_per_user, stored),
            **{d: summarise_targeted(g, events_per_user, stored) for d, g in by_direction.items()},
        },
        "narrow": summarise_targeted(narrow, events_per_user, stored),
        "unrelated": {
            "all": summarise_unrelated(unrelated, events_per_user),
            **{
                lang: summarise_unrelated([r for r in unrelated if r.lang == lang], events_per_user)
                for lang in ("zh", "en")
            },
        },
        "unread_lines": sum(
            r.header_count - len(r.lines)
            for r in rows
            if r.header_count is not None and r.header_count > len(r.lines)
        ),
        "asks_without_memory": dict(Counter(r.direction for r in rows if not r.lines)),
        "latency": latency,
        "asks": [
            {
                "q": r.question,
                "user": r.user,
                "events": r.events,
                "profile": r.profile,
                "added_ms_p50": per_ask.get((r.question, r.user)),
            }
            for r in rows
        ],
    }


def report(result: dict[str, Any]) -> None:
    store = result["store"]
    print(
        f"\nMultilingual relevance through the proxy: {result['probes']['events']} events, "
        f"{result['probes']['targeted_questions']} targeted questions, "
        f"{result['probes']['unrelated_asks']} unrelated asks; store {store['fate']}"
    )
    if store["not_stored"]:
        print(f"not stored: {store['not_stored']}")
    head = "recall    all  stored  events/q  share  profile/q  tokens mean/p95"
    print(f"{'targeted':14} {'n':>3}  {head}")
    groups = {**result["targeted"], "narrow (1)": result["narrow"]}
    for name, s in groups.items():
        if not s["n"]:
            continue
        print(
            f"{name:14} {s['n']:>3}  {s['recall']:6.3f} {s['all']:6.3f} {s['stored']:7.3f} "
            f"{s['events_injected_mean']:9.1f} {s['share_of_store_mean']:6.3f} "
            f"{s['profile_lines_mean']:10.1f}  {s['tokens_mean']:6.0f} / {s['tokens_p95']:.0f}"
        )
    print(f"{'unrelated':14} {'n':>3}  any event  events/q  share  profile/q  tokens mean/p95")
    for name, s in result["unrelated"].items():
        print(
            f"{name:14} {s['n']:>3}  {s['any_event']:9.3f} {s['events_injected_mean']:9.1f} "
            f"{s['share_of_store_mean']:6.3f} {s['profile_lines_mean']:10.1f}  "
            f"{s['tokens_mean']:6.0f} / {s['tokens_p95']:.0f}"
        )
    for lang, lat in result["latency"].items():
        print(
            f"added latency, {lang} questions: p50 {lat['added_p50_ms']:.2f} ms, "
            f"p99 {lat['added_p99_ms']:.2f} ms (n={lat['n']}; proxy p50 {lat['proxy_p50_ms']:.2f})"
        )
    leaks = result["targeted"]["all"]["foreign_lines"] + result["unrelated"]["all"]["foreign_lines"]
    print(f"other users' lines injected: {leaks}; lines not read: {result['unread_lines']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="latency rounds over all asks")
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "multilingual.json")
    args = parser.parse_args()
    # Configured before the proxy starts, as `memory-proxy serve` does: else the first library to
    # call basicConfig (the MCP server does, at INFO) logs every request of the run.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = harness.run_header("multilingual") | measure(args)
    report(result)
    harness.write_results(args.out, result)


if __name__ == "__main__":
    main()
