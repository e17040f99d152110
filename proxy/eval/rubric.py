"""The judge model's fixed rubric, what it is shown, and how its verdict is read (pure).

The judge sees the question, what a right answer contains, what it must not claim and the
answer, as one JSON object, and answers with a JSON verdict. The rubric never changes between
arms or runs, so figures from different runs compare.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from proxy.core.errors import JudgeParseError
from proxy.eval.cases import Probe

__all__ = ["RUBRIC", "JudgeVerdict", "judge_messages", "parse_verdict"]

RUBRIC = """You grade one answer of an AI assistant to a question its user asked.
You get a JSON object with:
- "question": what the user asked;
- "expected": what a right answer does: "keywords" (each must be conveyed; a list inside means
  one of its items), "regex" (patterns it matches), "reference" (a reference answer: the answer
  must agree with it in substance, wording may differ), "follows" (a preference or constraint of
  the user the answer must respect), "abstain" (true: the right answer says it does not know);
- "forbidden": what a right answer must not claim ("keywords", "regex", "claims"): facts of
  another person, superseded values, invented details;
- "answer": the assistant's answer.
Grade strictly:
- "correct": true only if the answer meets every expected criterion given;
- "forbidden": true if the answer asserts anything forbidden, or states as the user's a specific
  fact that is wrong (a hallucination). Mentioning a forbidden value only to say it no longer
  holds ("you moved away from Berlin") is not asserting it.
Reply with one JSON object and nothing else:
{"correct": true|false, "forbidden": true|false, "reason": "<one short sentence>"}"""


@dataclass(frozen=True)
class JudgeVerdict:
    correct: bool
    forbidden: bool
    reason: str

    @property
    def success(self) -> bool:
        return self.correct and not self.forbidden


def judge_messages(probe: Probe, answer: str) -> list[dict[str, str]]:
    shown: dict[str, Any] = {
        "question": probe.question,
        "expected": probe.expect.model_dump(exclude_defaults=True),
        "forbidden": probe.forbid.model_dump(exclude_defaults=True),
        "answer": answer,
    }
    return [
        {"role": "system", "content": RUBRIC},
        {"role": "user", "content": json.dumps(shown, ensure_ascii=False)},
    ]


_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no"):
        return False
    raise JudgeParseError(f"the verdict's {name!r} is not true or false: {value!r}")


def parse_verdict(text: str) -> JudgeVerdict:
    """The verdict in the judge's answer (a code fence or words around the object are fine)."""
    found = _OBJECT.search(text or "")
    if found is None:
        raise JudgeParseError(f"no JSON object in the judge's answer: {text[:200]!r}")
    try:
        data = json.loads(found.group(0))
    except ValueError as exc:
        raise JudgeParseError(f"the judge's answer is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "correct" not in data:
        raise JudgeParseError(f"the judge's verdict has no 'correct': {found.group(0)[:200]!r}")
    return JudgeVerdict(
        correct=_flag(data["correct"], "correct"),
        forbidden=_flag(data.get("forbidden", False), "forbidden"),
        reason=str(data.get("reason", ""))[:500],
    )
