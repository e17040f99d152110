"""LoCoMo (snap-research/LoCoMo, `locomo10.json`) as eval cases.

One case per conversation, one memory user for it: every session is a setup conversation dated
with the session's time, each turn a user turn "Speaker: text" (plus "[shares <caption>]" for a
shared image). Questions of categories 1-4 become probes with the gold answer as reference;
category 5 (adversarial: the event belongs to the other speaker) becomes a probe whose right
answer says it is not known and that must not claim the adversarial answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy.core.errors import EvalError
from proxy.eval.cases import Case, Conversation, Expect, Forbid, Probe, Turn

__all__ = ["CATEGORIES", "locomo_cases"]

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
_SESSION = re.compile(r"session_(\d+)")


def locomo_cases(
    path: Path,
    categories: Collection[int] = (1, 2, 3, 4),
    limit_conversations: int | None = None,
    limit_questions: int | None = None,
) -> list[Case]:
    try:
        samples = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read LoCoMo file {path}: {exc}") from None
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise EvalError(f"{path} is not a LoCoMo file (a list of conversations)")
    try:
        cases = [_case(sample, categories, limit_questions) for sample in samples]
    except (KeyError, TypeError, ValueError) as exc:
        raise EvalError(f"{path} is not in LoCoMo's format: {exc!r}") from None
    return [case for case in cases if case is not None][:limit_conversations]


def _case(
    sample: dict[str, Any], categories: Collection[int], limit_questions: int | None
) -> Case | None:
    conversation = sample["conversation"]
    numbers = sorted(
        int(m.group(1))
        for key in conversation
        if (m := _SESSION.fullmatch(key)) and conversation[key]
    )
    setup = [
        Conversation(
            session=f"session-{n}",
            time=_when(conversation.get(f"session_{n}_date_time")),
            turns=[Turn(role="user", content=_said(t)) for t in conversation[f"session_{n}"]],
        )
        for n in numbers
    ]
    probes = [
        probe
        for i, qa in enumerate(sample["qa"], 1)
        if qa.get("category") in categories and (probe := _probe(f"q{i}", qa)) is not None
    ][:limit_questions]
    if not probes:
        return None
    return Case(id=str(sample["sample_id"]), setup=setup, probes=probes)


def _said(turn: dict[str, Any]) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    return f"{text} [shares {turn['blip_caption']}]" if turn.get("blip_caption") else text


def _when(value: str | None) -> datetime | None:
    """ "1:56 pm on 8 May, 2023" (taken as UTC)."""
    if not value:
        return None
    return datetime.strptime(value, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def _probe(probe_id: str, qa: dict[str, Any]) -> Probe | None:
    question = str(qa.get("question") or "").strip()
    if not question:
        return None
    if qa.get("category") == 5:
        wrong = str(qa.get("adversarial_answer") or "").strip()
        forbid = Forbid(claims=[wrong]) if wrong else Forbid()
        return Probe(id=probe_id, question=question, expect=Expect(abstain=True), forbid=forbid)
    answer = str(qa.get("answer") if qa.get("answer") is not None else "").strip()
    if not answer:
        return None
    return Probe(id=probe_id, question=question, expect=Expect(reference=answer))
