"""What the proxy kept of the multilingual probes, read through the memory API.

Each probe's text is looked up among the user's live memories (`GET /memories`): stored (the same
text, or trimmed by the extractor), superseded by a newer statement, merged (a near-duplicate
later statement overwrote its memory, seen in `GET /memories/{id}/history`), or never stored.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from bench.harness import list_memories
from bench.multilingual_probes import EVENTS, PROFILE, USERS
from bench.multilingual_score import Probe

__all__ = ["check_store", "find_stored"]


def find_stored(text: str, active: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The live memory holding `text`: the same text, else one containing it or contained in
    it (the extractor may trim a sentence)."""
    exact = [m for m in active if m["text"].strip() == text]
    if exact:
        return exact[0]
    near = [m for m in active if m["text"].strip() in text or text in m["text"]]
    return near[0] if len(near) == 1 else None


def check_store(proxy: httpx.Client) -> tuple[dict[str, Probe], dict[str, Any]]:
    """Map each stored memory text to its probe; say what became of every probe."""
    probes: dict[str, Probe] = {}
    fate: dict[str, str] = {}
    in_profile_tier: list[str] = []
    rows = [("event", e.user, e.id, e.text) for e in EVENTS]
    rows += [("profile", p.user, p.id, p.text) for p in PROFILE]
    url = str(proxy.base_url)
    memories = {user: list_memories(url, user, include_superseded=True) for user in USERS}
    for kind, user, pid, text in rows:
        active = [m for m in memories[user] if m.get("status", "active") == "active"]
        found = find_stored(text, active)
        if found is not None:
            probes[found["text"].strip()] = Probe(kind, user, pid)
            fate[pid] = "stored" if found["text"].strip() == text else "stored (trimmed)"
            if kind == "event" and found.get("tier") == "profile":
                in_profile_tier.append(pid)
        elif any(m["text"].strip() == text for m in memories[user]):
            fate[pid] = "superseded"
        else:
            fate[pid] = merged_into(proxy, text, active) or "never stored"
    counts = Counter(f.split(" (")[0] if f.startswith("merged") else f for f in fate.values())
    return probes, {
        "memories": {u: len(m) for u, m in memories.items()},
        "fate": dict(counts),
        "not_stored": {pid: f for pid, f in fate.items() if not f.startswith("stored")},
        "events_in_profile_tier": in_profile_tier,
    }


def merged_into(proxy: httpx.Client, text: str, active: list[dict[str, Any]]) -> str | None:
    """'merged (into: ...)' when a near-duplicate later statement overwrote the memory."""
    for memory in active:
        response = proxy.get(f"/memories/{memory['id']}/history")
        if response.status_code != 200:
            continue
        for event in response.json()["data"]:
            if event["event"] == "UPDATE" and (event.get("old_text") or "").strip() == text:
                return f"merged (into: {memory['text']})"
    return None
