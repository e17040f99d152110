"""One probe asked in one arm: the answer, its cost, and its verdicts (pure).

It is also the line format of the state file, so that a resumed run reads back what an
interrupted one finished.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from proxy.eval.arms import Arm
from proxy.eval.rubric import JudgeVerdict
from proxy.eval.scoring import Outcome, RuleVerdict

__all__ = ["Answer", "ProbeResult"]


@dataclass(frozen=True)
class Answer:
    """What the model said and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    injected: int | None = None  # memories the proxy added (X-Memory-Count); None: not proxied


@dataclass(frozen=True)
class ProbeResult:
    case: str
    probe: str
    arm: Arm
    order: int  # position of the probe in the case file: reports list results in file order
    question: str
    answer: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    injected: int | None = None
    error: str | None = None
    rules: RuleVerdict | None = None
    judge: JudgeVerdict | None = None

    @property
    def key(self) -> str:
        return f"{self.case}/{self.probe}"

    @property
    def state_key(self) -> str:
        return f"{self.key}@{self.arm.value}"

    @property
    def success(self) -> bool:
        if self.error is not None:
            return False
        if self.judge is not None:
            return self.judge.success
        return self.rules is not None and self.rules.success

    @property
    def hallucinated(self) -> bool:
        if self.judge is not None:
            return self.judge.forbidden
        return self.rules is not None and self.rules.hallucinated

    @property
    def abstained(self) -> bool:
        return self.rules is not None and self.rules.abstained

    def outcome(self) -> Outcome:
        return Outcome(
            success=self.success,
            hallucinated=self.hallucinated,
            abstained=self.abstained,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            latency_ms=self.latency_ms,
            injected=self.injected,
            error=self.error is not None,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["arm"] = self.arm.value
        data |= {"key": self.key, "success": self.success, "hallucinated": self.hallucinated}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeResult:
        rules, judge = data.get("rules"), data.get("judge")
        return cls(
            case=data["case"],
            probe=data["probe"],
            arm=Arm(data["arm"]),
            order=int(data["order"]),
            question=data["question"],
            answer=data.get("answer"),
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            latency_ms=float(data.get("latency_ms", 0.0)),
            injected=data.get("injected"),
            error=data.get("error"),
            rules=RuleVerdict(**rules) if rules else None,
            judge=JudgeVerdict(**judge) if judge else None,
        )
