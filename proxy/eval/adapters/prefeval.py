"""PrefEval (amazon-science/PrefEval, explicit preferences) as eval cases.

A directory of `<topic>.json` files, each a list of `{preference, question, explanation}`, and
optionally `filtered_inter_turns.json` (real multi-turn chats used as distractors). One case per
preference, one memory user for it: the user states the preference in a setup conversation,
among `distractors` unrelated user turns, and later asks the question, which a generic answer
gets wrong. Whether the answer respects the preference only a model can tell: these cases need
`--judge-model`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from proxy.core.errors import EvalError
from proxy.eval.cases import Case, Conversation, Expect, Probe, Turn

__all__ = ["DISTRACTORS_FILE", "prefeval_cases"]

DISTRACTORS_FILE = "filtered_inter_turns.json"
_TOPIC = re.compile(r"[A-Za-z0-9_.-]+")


def prefeval_cases(
    directory: Path,
    topics: Collection[str] | None = None,
    per_topic: int | None = None,
    distractors: int = 0,
    seed: int = 0,
) -> list[Case]:
    if not directory.is_dir():
        raise EvalError(f"{directory} is not a directory of PrefEval topic files")
    files = sorted(p for p in directory.glob("*.json") if p.name != DISTRACTORS_FILE)
    if topics:
        files = [p for p in files if p.stem in topics]
    if not files:
        raise EvalError(f"no PrefEval topic files (<topic>.json) in {directory}")
    pool = _distractor_pool(directory / DISTRACTORS_FILE) if distractors else []
    if distractors and not pool:
        raise EvalError(f"distractors asked for, but {directory / DISTRACTORS_FILE} has none")
    rng = random.Random(seed)  # the same cases every time for the same arguments
    cases: list[Case] = []
    for path in files:
        for index, item in enumerate(_items(path)[:per_topic]):
            turns = rng.sample(pool, min(distractors, len(pool)))
            turns.insert(rng.randint(0, len(turns)), str(item["preference"]))
            cases.append(_case(path.stem, index, item, turns))
    return cases


def _items(path: Path) -> list[dict[str, Any]]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read PrefEval file {path}: {exc}") from None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and i.get("preference") and i.get("question") for i in items
    ):
        raise EvalError(f"{path} is not a PrefEval topic file ([{{preference, question}}, ...])")
    return items


def _case(topic: str, index: int, item: dict[str, Any], turns: list[str]) -> Case:
    name = "-".join(_TOPIC.findall(topic)) or "topic"
    follows = str(item["preference"])
    if item.get("explanation"):
        follows += f" (What respecting it means here: {item['explanation']})"
    return Case(
        id=f"prefeval-{name}-{index}",
        setup=[Conversation(turns=[Turn(role="user", content=t) for t in turns])],
        probes=[Probe(id="p1", question=str(item["question"]), expect=Expect(follows=follows))],
    )


def _distractor_pool(path: Path) -> list[str]:
    """The user messages of the distractor chats, 20 to 1,500 characters long."""
    if not path.exists():
        return []
    try:
        chats = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from None
    return [
        str(message["content"])
        for chat in chats
        if isinstance(chat, dict)
        for message in chat.get("conversation", [])
        if isinstance(message, dict)
        and message.get("role") == "user"
        and 20 <= len(str(message.get("content", ""))) <= 1500
    ]
