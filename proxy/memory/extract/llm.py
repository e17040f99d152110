"""LLM extraction with reconciliation: one call per turn decides ADD / UPDATE / DELETE / NONE
against the similar memories already stored. Prompt building and the tolerant parsing of the
model's JSON are pure; the call itself goes through litellm (any provider), imported lazily."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from proxy.core.errors import ExtractionParseError
from proxy.core.records import TIERS, Tier
from proxy.core.routing import CallTarget
from proxy.llm import litellm

__all__ = [
    "KINDS",
    "SYSTEM_PROMPT",
    "Action",
    "Decision",
    "LlmExtractor",
    "build_messages",
    "parse_decisions",
]

Action = Literal["ADD", "UPDATE", "DELETE", "NONE"]
KINDS = ("preference", "fact", "plan", "constraint", "event")

SYSTEM_PROMPT = """You maintain long-term memory about a user for an AI assistant.
From the NEW TURN, extract short, self-contained facts worth remembering about the user:
preferences, facts about them and their life, plans, constraints, notable events.
Then reconcile them with the EXISTING MEMORIES (numbered) and answer with JSON only:
{"memory": [{"event": "ADD", "text": "...", "kind": "fact", "tier": "episodic"},
            {"event": "UPDATE", "id": 0, "text": "...", "kind": "preference", "tier": "profile"},
            {"event": "DELETE", "id": 1},
            {"event": "NONE", "id": 2}]}
Rules:
- ADD a new fact; UPDATE an existing memory when the turn refines or changes it (keep its id);
  DELETE an existing memory the turn contradicts or the user asks to forget; NONE to keep one.
- Use only ids from EXISTING MEMORIES. kind is one of: preference, fact, plan, constraint, event.
- tier "profile" is what holds until the user changes it: preferences and standing instructions
  on how to answer (language, tone, length, format, tools and tech stack), who they are (name,
  how to address them, location, time zone, occupation), constraints (diet, allergies, health,
  accessibility, budget), long-running goals. Everything else (events, dated plans, other
  facts) is tier "episodic".
- A standing instruction ("always ...", "from now on ...", "以后 ...") is a profile preference:
  ADD it. A one-off request ("translate this") is not a memory.
- Only what the USER states about themselves. The assistant's words are context, not facts.
- Skip questions, greetings, one-off requests, hypotheticals, jokes and role-play.
- Honour explicit requests: "remember ..." means ADD; "forget ..." means DELETE.
- Write each fact in the user's own language (do not translate), in the first person.
- Never include secrets: keys, passwords, tokens, card or id numbers.
- If nothing is worth remembering, answer {"memory": []}."""


@dataclass(frozen=True)
class Decision:
    action: Action
    text: str = ""
    kind: str = "fact"
    target: int | None = None  # index into the existing memories shown to the model
    tier: Tier | None = None  # None: the model did not say (the offline rules decide)


def build_messages(
    user_text: str, assistant_text: str, existing: Sequence[str]
) -> list[dict[str, str]]:
    listed = "\n".join(f"{i}: {text}" for i, text in enumerate(existing)) or "(none)"
    turn = f"USER: {user_text}"
    if assistant_text:
        turn += f"\nASSISTANT: {assistant_text[:2000]}"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"EXISTING MEMORIES:\n{listed}\n\nNEW TURN:\n{turn}"},
    ]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _json_candidate(raw: str) -> str:
    """The JSON inside code fences or surrounding prose, with trailing commas removed."""
    fenced = _FENCE.search(raw)
    text = fenced.group(1) if fenced else raw
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ExtractionParseError("no JSON object in the model's answer")
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    if end < start:
        raise ExtractionParseError("unterminated JSON in the model's answer")
    return _TRAILING_COMMA.sub(r"\1", text[start : end + 1])


def parse_decisions(raw: str, existing_count: int) -> list[Decision]:
    """Tolerant reading of the model's answer. Ids outside the shown range are dropped (the
    model cannot touch memories it was not shown); unknown events are ignored."""
    try:
        payload: Any = json.loads(_json_candidate(raw))
    except json.JSONDecodeError as exc:
        raise ExtractionParseError(f"invalid JSON from the model: {exc}") from exc
    items = payload.get("memory", payload.get("memories")) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ExtractionParseError("the model's JSON has no 'memory' list")
    decisions: list[Decision] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        action = str(item.get("event", item.get("action", ""))).upper()
        text = str(item.get("text") or "").strip()
        kind = str(item.get("kind") or "fact").lower()
        kind = kind if kind in KINDS else "fact"
        target = _index(item.get("id"), existing_count)
        tier_said = str(item.get("tier") or "").lower()
        tier: Tier | None = tier_said if tier_said in TIERS else None
        if action == "ADD" and text:
            decisions.append(Decision("ADD", text, kind, tier=tier))
        elif action == "UPDATE" and text and target is not None:
            decisions.append(Decision("UPDATE", text, kind, target, tier=tier))
        elif action == "DELETE" and target is not None:
            decisions.append(Decision("DELETE", target=target))
    return decisions


def _index(value: Any, count: int) -> int | None:
    try:
        index = int(value)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < count else None


class LlmExtractor:
    """Calls the configured model through litellm. Blocking: runs in the writer's thread."""

    def __init__(self, target: CallTarget, timeout_s: float) -> None:
        self.target = target
        self.model = target.model
        self._timeout_s = timeout_s

    def complete(self, messages: list[dict[str, str]], api_key: str | None = None) -> str:
        """`api_key`: the client's own key for this turn, instead of the configured one."""
        response = litellm().completion(
            **self.target.params,
            model=self.target.model,
            messages=messages,
            api_key=api_key or self.target.api_key,
            api_base=self.target.api_base,
            timeout=self._timeout_s,
            temperature=0,
            num_retries=0,
        )
        content = response.choices[0].message.content
        return content if isinstance(content, str) else ""
