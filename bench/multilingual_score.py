"""Scoring of bench/multilingual.py (pure): what the model received, and what it was worth.

The memory blocks are read from the request the fake upstream received, wherever the proxy put
them: the system/developer messages, and the start of the last user message (a string content
or a text part). A block is `<memories ...>` ... `</memories>`; its memory lines are
`- [YYYY-MM-DD] text` or `- text`. An injected line is matched to a probe by exact text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Asked",
    "Probe",
    "blocks_of",
    "lines_of",
    "percentile",
    "summarise_targeted",
    "summarise_unrelated",
]

_BLOCK_RE = re.compile(r"<memories\b[^>]*>(.*?)(?:</memories>|\Z)", re.DOTALL)
_LINE_RE = re.compile(r"^- (?:\[\d{4}-\d{2}-\d{2}\] )?(.*?)\s*$", re.MULTILINE)
SYSTEM_ROLES = ("system", "developer")


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        ]
    return []


def blocks_of(body: Mapping[str, Any]) -> list[str]:
    """Every memory block in a chat request: system/developer messages, then the last user
    message."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    places = [m for m in messages if m.get("role") in SYSTEM_ROLES]
    users = [m for m in messages if m.get("role") == "user"]
    places += users[-1:]
    texts = [t for m in places for t in _texts(m.get("content"))]
    return [match.group(0) for text in texts for match in _BLOCK_RE.finditer(text)]


def lines_of(blocks: Iterable[str]) -> list[str]:
    """The memory texts of the blocks, date prefixes stripped, in order."""
    return [line for block in blocks for line in _LINE_RE.findall(block)]


@dataclass(frozen=True)
class Probe:
    """What a stored memory text stands for."""

    kind: str  # event | profile
    user: str
    id: str


@dataclass
class Asked:
    """One question asked of one user, and what reached the model."""

    question: str
    user: str
    lang: str
    direction: str  # zh->zh, en->zh, zh->en, en->en; "unrelated"
    targets: tuple[str, ...]
    lines: list[str]
    tokens: int
    header_count: int | None  # X-Memory-Count, to check every injected line was read
    events: list[str] = field(default_factory=list)  # this user's events injected
    profile: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)  # another user's memories: a leak
    other: int = 0  # lines that are no probe (a memory text the store changed)

    def classify(self, probes: Mapping[str, Probe]) -> Asked:
        for line in self.lines:
            probe = probes.get(line)
            if probe is None:
                self.other += 1
            elif probe.user != self.user:
                self.foreign.append(probe.id)
            elif probe.kind == "event":
                self.events.append(probe.id)
            else:
                self.profile.append(probe.id)
        return self

    @property
    def recall(self) -> float:
        return len(set(self.targets) & set(self.events)) / len(self.targets)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else 0.0


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _common(rows: Sequence[Asked], store: Mapping[str, int]) -> dict[str, Any]:
    tokens = [float(r.tokens) for r in rows]
    return {
        "n": len(rows),
        "events_injected_mean": _mean([len(r.events) for r in rows]),
        "share_of_store_mean": _mean([len(r.events) / max(1, store[r.user]) for r in rows]),
        "profile_lines_mean": _mean([len(r.profile) for r in rows]),
        "tokens_mean": _mean(tokens),
        "tokens_p95": percentile(tokens, 95),
        "foreign_lines": sum(len(r.foreign) for r in rows),
    }


def summarise_targeted(
    rows: Sequence[Asked], store: Mapping[str, int], stored: set[str]
) -> dict[str, Any]:
    """Recall (share of target events that reached the model), `all` (every target did),
    `stored` (share of targets the proxy kept at all: the ceiling)."""
    if not rows:
        return {"n": 0}
    return {
        "recall": _mean([r.recall for r in rows]),
        "all": _mean([float(set(r.targets) <= set(r.events)) for r in rows]),
        "stored": _mean([len(set(r.targets) & stored) / len(r.targets) for r in rows]),
        "missed": sorted({f"{r.question}:{t}" for r in rows for t in r.targets} - _hits(rows)),
    } | _common(rows, store)


def _hits(rows: Sequence[Asked]) -> set[str]:
    return {f"{r.question}:{t}" for r in rows for t in r.targets if t in r.events}


def summarise_unrelated(rows: Sequence[Asked], store: Mapping[str, int]) -> dict[str, Any]:
    """The share of (question, user) asks that got any event, and how many events they got."""
    if not rows:
        return {"n": 0}
    return {"any_event": _mean([float(bool(r.events)) for r in rows])} | _common(rows, store)
