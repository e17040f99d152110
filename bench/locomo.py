"""Memory recall on LoCoMo through the proxy's real HTTP interface (docs: bench.md §1).

Replays every conversation into the proxy (one memory user per speaker, write-only, dated with
X-Memory-Time), flushes, then asks each category 1-4 question of both speakers' users
(read-only) and reads, at a fake upstream, which memories were injected. A memory is attributed
to the turn(s) of its speaker whose text best contains it (token containment >= 0.5).

    python bench/locomo.py --limit-conversations 1
    python bench/locomo.py --budget 1200 --out bench/results/locomo-1200.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import re
import shlex
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from tqdm import tqdm

from proxy.app import create_app
from proxy.settings import RetrievalSettings, Settings
from proxy.tokens import estimate_tokens
from tests.fake_upstream import FakeUpstream
from tests.servers import ServerThread

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10, 20)
WORD_RE = re.compile(r"\w+")
EVIDENCE_RE = re.compile(r"D:?(\d+):(\d+)")  # "D8:6; D9:17", "D:11:26", "D30:05"
LINE_RE = re.compile(r"^- \[\d{4}-\d{2}-\d{2}\] (.*)$", re.MULTILINE)


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


def injected(system_text: str) -> tuple[list[str], str]:
    """Memory texts in the injected block (date prefix stripped) and the block itself."""
    start = system_text.find("<memories>")
    if start < 0:
        return [], ""
    end = system_text.find("</memories>", start)
    block = system_text[start : end + len("</memories>")] if end >= 0 else system_text[start:]
    return LINE_RE.findall(block), block


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    convs, skipped = load(args.data, args.limit_conversations)
    replies = {f"replay/{c.sample_id}/{t.dia_id}": t.reply for c in convs for t in c.turns}
    upstream = FakeUpstream(reply=lambda body: replies.get(str(body.get("model")), "ok"))
    fake = ServerThread(upstream.app).start()
    defaults = RetrievalSettings()
    retrieval = RetrievalSettings(
        top_k=args.top_k,
        token_budget=args.token_budget if args.token_budget is not None else args.budget // 2,
        min_similarity=defaults.min_similarity
        if args.min_similarity is None
        else args.min_similarity,
        timeout_ms=args.timeout_ms or defaults.timeout_ms,
    )
    with tempfile.TemporaryDirectory(prefix="locomo-") as tmp:
        settings = Settings(upstream_url=f"{fake.url}/v1", data_dir=Path(tmp), retrieval=retrieval)
        proxy = ServerThread(create_app(settings)).start()
        try:
            async with httpx.AsyncClient(base_url=proxy.url, timeout=900) as client:
                return await measure(args, client, upstream, convs, skipped, settings)
        finally:
            proxy.stop()
            fake.stop()


async def measure(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    upstream: FakeUpstream,
    convs: list[Conversation],
    skipped: int,
    settings: Settings,
) -> dict[str, Any]:
    n_turns = sum(len(c.turns) for c in convs)
    started = time.perf_counter()
    await replay(client, convs, args.concurrency)
    replayed = time.perf_counter() - started
    (await client.post("/memories/flush", params={"timeout": 600})).raise_for_status()
    ingest_s = time.perf_counter() - started

    # memory text -> dia_ids, per user; and which turns got at least one memory
    maps: dict[str, dict[str, set[str]]] = {}
    stored_turns: set[tuple[str, str]] = set()
    n_memories = unattributed = 0
    for conv in convs:
        for speaker in conv.speakers:
            response = await client.get("/memories", params={"user_id": conv.user(speaker)})
            response.raise_for_status()
            own = [t for t in conv.turns if t.speaker == speaker]
            mapping = {
                m["text"]: attribute(m["text"], speaker, own) for m in response.json()["data"]
            }
            maps[conv.user(speaker)] = mapping
            n_memories += len(mapping)
            unattributed += sum(1 for ids in mapping.values() if not ids)
            stored_turns |= {(conv.sample_id, i) for ids in mapping.values() for i in ids}

    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    missed = {"never_stored": 0, "stored_not_injected": 0}
    dropped_examples: list[dict[str, str]] = []
    bar = tqdm(total=sum(len(c.questions) for c in convs), desc="query", unit="question")
    query_started = time.perf_counter()
    for conv in convs:
        by_id = {t.dia_id: t for t in conv.turns}
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
                texts, block = injected(upstream.last_chat().system_text())
                tokens += estimate_tokens(block) if block else 0
                mapping = maps[conv.user(speaker)]
                per_user.append(
                    [
                        mapping[t] if t in mapping else attribute(t, speaker, own[speaker])
                        for t in texts
                    ]
                )
            order = interleave(*per_user)
            evidence = set(q.evidence)
            row: dict[str, Any] = {"category": q.category, "tokens": tokens, "n": len(order)}
            for k in KS:
                found = evidence & set().union(*order[:k])
                row[f"@{k}"] = len(found) / len(evidence)
                row[f"all@{k}"] = float(found == evidence)
            covered = evidence & set().union(*order)
            row["budget"] = len(covered) / len(evidence)
            for dia_id in evidence - covered:
                if (conv.sample_id, dia_id) in stored_turns:
                    missed["stored_not_injected"] += 1
                else:
                    missed["never_stored"] += 1
                    if len(dropped_examples) < args.examples:
                        dropped_examples.append(
                            {"dia_id": f"{conv.sample_id}/{dia_id}", "text": by_id[dia_id].message}
                        )
            rows.append(row)
            bar.update()
    bar.close()
    query_s = time.perf_counter() - query_started

    evidence_turns = {(c.sample_id, e) for c in convs for q in c.questions for e in q.evidence}
    groups = {"overall": rows} | {
        name: [r for r in rows if r["category"] == cat] for cat, name in CATEGORIES.items()
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "data": str(args.data),
        "settings": settings.retrieval.model_dump(),
        "budget_total": settings.retrieval.token_budget * 2,
        "conversations": len(convs),
        "questions": len(rows),
        "questions_skipped_no_evidence": skipped,
        "recall": {name: _summary(group) for name, group in groups.items()},
        "tokens": {
            "mean": mean([r["tokens"] for r in rows]),
            "p95": pct(_col(rows, "tokens"), 0.95),
        },
        "memories_injected_per_question": mean(_col(rows, "n")),
        "store": {
            "turns": n_turns,
            "memories": n_memories,
            "memories_unattributed": unattributed,
            "turns_with_a_memory": len(stored_turns),
            "evidence_turns": len(evidence_turns),
            "evidence_turns_with_a_memory": len(evidence_turns & stored_turns),
        },
        "missed_evidence_at_budget": missed,
        "never_stored_examples": dropped_examples,
        "ingest": {
            "wall_s": ingest_s,
            "replay_s": replayed,
            "turns_per_s": n_turns / ingest_s if ingest_s else 0.0,
        },
        "query": {
            "wall_s": query_s,
            "requests": len(latencies),
            "latency_p50_ms": pct(latencies, 0.5) * 1000,
            "latency_p95_ms": pct(latencies, 0.95) * 1000,
            "memory_status": dict(statuses),
        },
    }


def interleave(a: list[set[str]], b: list[set[str]]) -> list[set[str]]:
    """First of A, first of B, second of A, ..."""
    return [x for i in range(max(len(a), len(b))) for x in (*a[i : i + 1], *b[i : i + 1])]


def _col(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows]


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [f"@{k}" for k in KS] + ["budget", "all@10"]
    return {"n": len(rows)} | {k: mean(_col(rows, k)) for k in keys}


def report(result: dict[str, Any]) -> None:
    r = result["settings"]
    print(
        f"\nLoCoMo recall through the proxy: {result['conversations']} conversations, "
        f"{result['questions']} questions, top_k={r['top_k']}, "
        f"budget={result['budget_total']} ({r['token_budget']}/user), "
        f"min_similarity={r['min_similarity']}"
    )
    print(f"{'':12} {'n':>5} {'@5':>6} {'@10':>6} {'@20':>6} {'budget':>7} {'all@10':>7}")
    for name, s in result["recall"].items():
        print(
            f"{name:12} {s['n']:>5} {s['@5']:>6.3f} {s['@10']:>6.3f} {s['@20']:>6.3f} "
            f"{s['budget']:>7.3f} {s['all@10']:>7.3f}"
        )
    st, ing, qry = result["store"], result["ingest"], result["query"]
    print(
        f"injected tokens/question: mean {result['tokens']['mean']:.0f}, "
        f"p95 {result['tokens']['p95']:.0f}; memories/question "
        f"{result['memories_injected_per_question']:.1f}"
    )
    print(
        f"stored {st['memories']} memories from {st['turns']} turns "
        f"({st['turns_with_a_memory']} turns with >=1 memory; {st['memories_unattributed']} "
        f"unattributed); evidence turns stored: {st['evidence_turns_with_a_memory']}"
        f"/{st['evidence_turns']}"
    )
    print(f"missed evidence at budget: {result['missed_evidence_at_budget']}")
    print(
        f"ingest {ing['wall_s']:.1f} s ({ing['turns_per_s']:.1f} turns/s); query "
        f"{qry['wall_s']:.1f} s, p50 {qry['latency_p50_ms']:.1f} ms, "
        f"p95 {qry['latency_p95_ms']:.1f} ms, status {qry['memory_status']}"
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
    parser.add_argument("--timeout-ms", type=float, default=defaults.timeout_ms)
    parser.add_argument("--concurrency", type=int, default=4, help="conversations replayed at once")
    parser.add_argument("--examples", type=int, default=20, help="never-stored turns to keep")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/locomo.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
