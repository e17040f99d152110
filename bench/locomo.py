"""Memory recall on LoCoMo through the proxy's real HTTP interface (docs: bench.md §1).

Replays every conversation into the proxy (one memory user per speaker, write-only, dated with
X-Memory-Time), flushes, then asks each category 1-4 question of both speakers' users
(read-only) and reads, at a fake upstream, which memories were injected. A memory is attributed
to the turn(s) of its speaker whose text best contains it (token containment >= 0.5).

    python bench/locomo.py --limit-conversations 1
    python bench/locomo.py --budget 1200 --out bench/results/locomo-1200.json

Each missed evidence turn is classified: never stored (the extractor kept nothing from it),
superseded (its memory was replaced by a newer statement), or stored but not injected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import httpx
import numpy as np
from tqdm import tqdm

from bench import harness
from proxy.core.tokens import estimate_tokens
from proxy.settings import RetrievalSettings
from testbed.fake_upstream import FakeUpstream

ROOT = harness.ROOT
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
WORD_RE = re.compile(r"\w+")
EVIDENCE_RE = re.compile(r"D:?(\d+):(\d+)")  # "D8:6; D9:17", "D:11:26", "D30:05"
LINE_RE = re.compile(r"^- (?:\[\d{4}-\d{2}-\d{2}\] )?(.*)$", re.MULTILINE)  # profile: undated


def words(text: str) -> frozenset[str]:
    return frozenset(WORD_RE.findall(text.lower()))


@dataclass
class Turn:
    dia_id: str
    speaker: str
    message: str  # "Name: text [shares caption]", as sent
    reply: str  # the other speaker's next turn, answered by the fake upstream
    when: str  # ISO 8601 session time
    tokens: frozenset[str] = field(default_factory=frozenset)


@dataclass
class Question:
    text: str
    category: int
    evidence: list[str]


@dataclass
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    turns: list[Turn]
    questions: list[Question]

    def user(self, speaker: str) -> str:
        return f"{self.sample_id}/{speaker}"


def load(path: Path, limit: int | None) -> tuple[list[Conversation], int]:
    """Conversations and the number of category 1-4 questions skipped for lack of evidence."""
    skipped = 0
    conversations = []
    for sample in json.loads(path.read_text())[:limit]:
        conv = sample["conversation"]
        sessions = sorted(
            int(k.split("_")[1]) for k in conv if re.fullmatch(r"session_\d+", k) and conv[k]
        )
        turns: list[Turn] = []
        for n in sessions:
            when = datetime.strptime(conv[f"session_{n}_date_time"], "%I:%M %p on %d %B, %Y")
            raw = conv[f"session_{n}"]
            for i, t in enumerate(raw):
                message = f"{t['speaker']}: {t['text']}"
                if t.get("blip_caption"):
                    message += f" [shares {t['blip_caption']}]"
                nxt = raw[i + 1] if i + 1 < len(raw) else None
                reply = f"{nxt['speaker']}: {nxt['text']}" if nxt else "ok"
                turns.append(
                    Turn(
                        t["dia_id"], t["speaker"], message, reply, when.isoformat(), words(message)
                    )
                )
        known = {t.dia_id for t in turns}
        questions = []
        for qa in sample["qa"]:
            if qa["category"] not in CATEGORIES:
                continue
            ids = [f"D{int(s)}:{int(t)}" for s, t in EVIDENCE_RE.findall(" ".join(qa["evidence"]))]
            evidence = list(dict.fromkeys(i for i in ids if i in known))
            if evidence:
                questions.append(Question(qa["question"], qa["category"], evidence))
            else:
                skipped += 1
        speakers = (conv["speaker_a"], conv["speaker_b"])
        conversations.append(Conversation(sample["sample_id"], speakers, turns, questions))
    return conversations, skipped


def attribute(text: str, speaker: str, turns: list[Turn]) -> set[str]:
    """The speaker's turns that contain the most of the memory's tokens (ties kept), >= 0.5."""
    tokens = words(text.removeprefix(f"{speaker}: "))
    best, ids = (len(tokens) + 1) // 2, set()
    for turn in turns:
        overlap = len(tokens & turn.tokens)
        if overlap > best:
            best, ids = overlap, {turn.dia_id}
        elif overlap == best and overlap > 0:
            ids.add(turn.dia_id)
    return ids


def injected(blocks: str) -> tuple[list[str], str]:
    """Memory texts in the injected blocks (wherever they sat; date prefix stripped) and the
    blocks themselves."""
    return LINE_RE.findall(blocks), blocks


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


async def replay(client: httpx.AsyncClient, convs: list[Conversation], concurrency: int) -> None:
    bar = tqdm(total=sum(len(c.turns) for c in convs), desc="ingest", unit="turn")
    sem = asyncio.Semaphore(concurrency)

    async def one(conv: Conversation) -> None:
        async with sem:
            for turn in conv.turns:  # in order: each speaker's turns stay in order
                response = await client.post(
                    "/v1/chat/completions",
                    json={
                        "model": f"replay/{conv.sample_id}/{turn.dia_id}",
                        "messages": [{"role": "user", "content": turn.message}],
                    },
                    headers={
                        "X-User-Id": conv.user(turn.speaker),
                        "X-Memory-Time": turn.when,
                        "X-Memory-Mode": "write-only",
                    },
                )
                response.raise_for_status()
                bar.update()

    await asyncio.gather(*(one(c) for c in convs))
    bar.close()


@dataclass
class Store:
    """What the proxy kept, attributed to turns."""

    texts: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # user: text -> dia_ids
    live: set[tuple[str, str]] = field(default_factory=set)  # (sample_id, dia_id) with a memory
    superseded: set[tuple[str, str]] = field(default_factory=set)  # ... with a replaced one
    counts: Counter[str] = field(default_factory=Counter)


def index_store(proxy_url: str, convs: list[Conversation]) -> Store:
    store = Store()
    for conv in convs:
        for speaker in conv.speakers:
            own = [t for t in conv.turns if t.speaker == speaker]
            mapping: dict[str, set[str]] = {}
            memories = harness.list_memories(proxy_url, conv.user(speaker), include_superseded=True)
            for memory in memories:
                ids = attribute(memory["text"], speaker, own)
                store.counts["unattributed"] += not ids
                if memory.get("status", "active") == "superseded":
                    store.counts["superseded"] += 1
                    store.superseded |= {(conv.sample_id, i) for i in ids}
                else:
                    store.counts["live"] += 1
                    mapping[memory["text"]] = ids
                    store.live |= {(conv.sample_id, i) for i in ids}
            store.texts[conv.user(speaker)] = mapping
    return store


async def run(args: argparse.Namespace) -> dict[str, Any]:
    convs, skipped = load(args.data, args.limit_conversations)
    replies = {f"replay/{c.sample_id}/{t.dia_id}": t.reply for c in convs for t in c.turns}
    upstream = FakeUpstream(reply=lambda body: replies.get(str(body.get("model")), "ok"))
    per_user = args.token_budget if args.token_budget is not None else args.budget // 2
    # One block of `--budget` tokens split between the two speakers' users: each gets half of
    # every tier's share too (the defaults' proportions).
    share = per_user / RetrievalSettings().token_budget
    defaults = RetrievalSettings()
    retrieval = RetrievalSettings(
        top_k=args.top_k,
        token_budget=per_user,
        min_similarity=args.min_similarity,
        timeout_ms=args.timeout_ms,
        candidates=args.candidates,
        profile_budget=(
            round(defaults.profile_budget * share)
            if args.profile_budget is None
            else args.profile_budget
        ),
        session_budget=round(defaults.session_budget * share),
        recent_budget=round(defaults.recent_budget * share),
    )
    digest = harness.code_digest()
    header = harness.run_header("memory recall on LoCoMo (docs/bench.md §1)")
    with (
        tempfile.TemporaryDirectory(prefix="locomo-") as tmp,
        harness.proxy_in_thread(
            upstream, Path(tmp), retrieval=retrieval, inject={"placement": args.placement}
        ) as running,
    ):
        async with httpx.AsyncClient(base_url=running.url, timeout=900) as client:
            result = await measure(args, client, upstream, convs)
    return {
        **header,
        "data": str(args.data),
        "proxy_code_sha256": digest,
        "settings": {**retrieval.model_dump(), "placement": args.placement},
        "budget_total": retrieval.token_budget * 2,
        "conversations": len(convs),
        "questions_skipped_no_evidence": skipped,
        **result,
    }


async def measure(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    upstream: FakeUpstream,
    convs: list[Conversation],
) -> dict[str, Any]:
    n_turns = sum(len(c.turns) for c in convs)
    started = time.perf_counter()
    await replay(client, convs, args.concurrency)
    replayed = time.perf_counter() - started
    await asyncio.to_thread(harness.flush, str(client.base_url))
    ingest_s = time.perf_counter() - started
    health = (await client.get("/healthz")).json().get("memory", {})
    store = await asyncio.to_thread(index_store, str(client.base_url), convs)

    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    never_stored: list[str] = []  # examples (ids only: the data's text stays out of the repo)
    bar = tqdm(total=sum(len(c.questions) for c in convs), desc="query", unit="question")
    query_started = time.perf_counter()
    for conv in convs:
        own = {s: [t for t in conv.turns if t.speaker == s] for s in conv.speakers}
        for qi, q in enumerate(conv.questions):
            per_user: list[list[set[str]]] = []
            tokens = 0
            for speaker in conv.speakers:
                tag = f"query/{conv.sample_id}/{qi}/{speaker}"
                t0 = time.perf_counter()
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": tag, "messages": [{"role": "user", "content": q.text}]},
                    headers={"X-User-Id": conv.user(speaker), "X-Memory-Mode": "read-only"},
                )
                latencies.append(time.perf_counter() - t0)
                response.raise_for_status()
                statuses[response.headers.get("x-memory-status", "?")] += 1
                seen = upstream.last_chat()  # queries run one at a time
                assert seen.json["model"] == tag, "the upstream saw another request"
                texts, block = injected(seen.memory_text())
                tokens += estimate_tokens(block) if block else 0
                mapping = store.texts[conv.user(speaker)]
                per_user.append(
                    [mapping.get(t) or attribute(t, speaker, own[speaker]) for t in texts]
                )
            order = interleave(*per_user)
            evidence = set(q.evidence)
            row: dict[str, Any] = {
                "category": q.category,
                "conversation": conv.sample_id,
                "tokens": tokens,
                "n": len(order),
            }
            for k in args.ks:
                found = evidence & set().union(*order[:k])
                row[f"@{k}"] = len(found) / len(evidence)
                row[f"all@{k}"] = float(found == evidence)
            covered = evidence & set().union(*order)
            live = {e for e in evidence if (conv.sample_id, e) in store.live}
            replaced = {e for e in evidence - live if (conv.sample_id, e) in store.superseded}
            row["budget"] = len(covered) / len(evidence)
            row["stored"] = len(live) / len(evidence)  # the ceiling: evidence with a live memory
            row["missed_not_injected"] = len(live - covered)
            row["missed_superseded"] = len(replaced)
            row["missed_never_stored"] = len(evidence - live - replaced)
            for dia_id in sorted(evidence - live - replaced):
                if len(never_stored) < args.examples:
                    never_stored.append(f"{conv.sample_id}/{dia_id}")
            rows.append(row)
            bar.update()
    bar.close()
    query_s = time.perf_counter() - query_started

    tokens = col(rows, "tokens")
    evidence_turns = {(c.sample_id, e) for c in convs for q in c.questions for e in q.evidence}
    groups = {"overall": rows} | {
        name: [r for r in rows if r["category"] == cat] for cat, name in CATEGORIES.items()
    }
    return {
        "questions": len(rows),
        "recall": {name: summary(group, args.ks) for name, group in groups.items()},
        "per_conversation": {
            sid: round(mean([r["budget"] for r in rows if r["conversation"] == sid]), 3)
            for sid in dict.fromkeys(r["conversation"] for r in rows)
        },
        "tokens": {"mean": mean(tokens), "p95": float(np.percentile(tokens, 95)) if rows else 0.0},
        "memories_injected_per_question": mean(col(rows, "n")),
        "store": {
            "turns": n_turns,
            "memories": store.counts["live"],
            "memories_superseded": store.counts["superseded"],
            "memories_unattributed": store.counts["unattributed"],
            "turns_with_a_memory": len(store.live),
            "evidence_turns": len(evidence_turns),
            "evidence_turns_with_a_memory": len(evidence_turns & store.live),
            "writer": health.get("writes"),
            "backlog": health.get("backlog"),
        },
        "never_stored_examples": never_stored,
        "ingest": {
            "wall_s": ingest_s,
            "replay_s": replayed,
            "turns_per_s": n_turns / ingest_s if ingest_s else 0.0,
        },
        "query": {
            "wall_s": query_s,
            "requests": len(latencies),
            "latency_p50_ms": harness.percentile(latencies, 50),
            "latency_p95_ms": harness.percentile(latencies, 95),
            "memory_status": dict(statuses),
        },
    }


def interleave(a: list[set[str]], b: list[set[str]]) -> list[set[str]]:
    """First of A, first of B, second of A, ..."""
    return [x for i in range(max(len(a), len(b))) for x in (*a[i : i + 1], *b[i : i + 1])]


def col(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows]


MISSED = ("missed_not_injected", "missed_superseded", "missed_never_stored")


def summary(rows: list[dict[str, Any]], ks: list[int]) -> dict[str, float]:
    keys = [f"@{k}" for k in ks] + ["budget", "all@10", "stored"]
    return (
        {"n": len(rows)}
        | {k: mean(col(rows, k)) for k in keys if rows and k in rows[0]}
        | {k: sum(col(rows, k)) for k in MISSED}
    )


def report(result: dict[str, Any]) -> None:
    r, ks = result["settings"], [k for k in result["recall"]["overall"] if k.startswith("@")]
    print(
        f"\nLoCoMo recall through the proxy: {result['conversations']} conversations, "
        f"{result['questions']} questions, top_k={r['top_k']}, "
        f"budget={result['budget_total']} ({r['token_budget']}/user), "
        f"min_similarity={r['min_similarity']}"
    )
    cols = [*ks, "budget", "all@10", "stored"]
    print(
        f"{'':12} {'n':>5} " + " ".join(f"{c:>7}" for c in cols),
        "  missed at budget: not injected / superseded / never stored",
    )
    for name, s in result["recall"].items():
        print(
            f"{name:12} {s['n']:>5} " + " ".join(f"{s.get(c, float('nan')):>7.3f}" for c in cols),
            "  " + " / ".join(f"{s[m]:.0f}" for m in MISSED),
        )
    st, ing, qry = result["store"], result["ingest"], result["query"]
    print(
        f"injected tokens/question: mean {result['tokens']['mean']:.0f}, "
        f"p95 {result['tokens']['p95']:.0f}; memories/question "
        f"{result['memories_injected_per_question']:.1f}"
    )
    print(
        f"stored {st['memories']} live memories (+{st['memories_superseded']} superseded) from "
        f"{st['turns']} turns; {st['turns_with_a_memory']} turns with a live memory; "
        f"{st['memories_unattributed']} unattributed; evidence turns with a live memory: "
        f"{st['evidence_turns_with_a_memory']}/{st['evidence_turns']}; writer {st['writer']}"
    )
    print(
        f"ingest {ing['wall_s']:.1f} s ({ing['turns_per_s']:.1f} turns/s, replay "
        f"{ing['replay_s']:.1f} s); query {qry['wall_s']:.1f} s, p50 {qry['latency_p50_ms']:.1f} "
        f"ms, p95 {qry['latency_p95_ms']:.1f} ms, status {qry['memory_status']}"
    )


def main() -> None:
    defaults = RetrievalSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/locomo10.json")
    parser.add_argument("--limit-conversations", type=int, default=None)
    parser.add_argument("--budget", type=int, default=600, help="tokens per question, both users")
    parser.add_argument("--token-budget", type=int, default=None, help="per user; beats --budget")
    parser.add_argument("--top-k", type=int, default=20, help="per user (@k needs k <= top_k)")
    parser.add_argument("--min-similarity", type=float, default=defaults.min_similarity)
    parser.add_argument(
        "--candidates", type=int, default=defaults.candidates, help="per retriever, per user"
    )
    parser.add_argument("--timeout-ms", type=float, default=defaults.timeout_ms)
    parser.add_argument(
        "--profile-budget", type=int, default=None, help="per user (default: scaled)"
    )
    parser.add_argument("--placement", choices=["system", "cache-aware"], default="cache-aware")
    parser.add_argument("--ks", default="5,10,20", help="prefixes of the injected list to score")
    parser.add_argument("--concurrency", type=int, default=4, help="conversations replayed at once")
    parser.add_argument("--examples", type=int, default=20, help="never-stored turns to keep")
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "locomo.json")
    args = parser.parse_args()
    args.ks = sorted({int(k) for k in args.ks.split(",")} | {10})  # all@10 needs @10
    result = asyncio.run(run(args))
    report(result)
    harness.write_results(args.out, result)


if __name__ == "__main__":
    main()
