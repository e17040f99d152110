"""Eval cases: what a user said (`setup`), then questions (`probes`) with what a right answer
contains (`expect`) and what it must not claim (`forbid`). One case per JSONL line (pure).

    {"id": "dana-moves", "user": "dana",
     "setup": [{"time": "2024-03-01", "turns": ["I live in Berlin."]},
               {"time": "2024-09-01", "session": "s2", "turns": ["I live in Lisbon now."]}],
     "probes": [{"question": "Which city do I live in?",
                 "expect": ["Lisbon"], "forbid": ["Berlin"]}]}

Shorthands: a turn given as a string is a user turn; `expect` given as a list is `keywords`, as a
string a `reference` answer; `forbid` given as a list is `keywords`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from proxy.core.errors import EvalError, InvalidRequest
from proxy.core.scope import validate_id

__all__ = [
    "Case",
    "Conversation",
    "Expect",
    "Forbid",
    "Probe",
    "Turn",
    "dump_cases",
    "load_cases",
    "parse_cases",
]


def _id(value: str) -> str:
    try:
        return validate_id(value, "id")
    except InvalidRequest as exc:
        raise ValueError(exc.message.removeprefix("id ")) from None


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _time(value: Any) -> Any:
    """A date alone ("2024-03-01") is midnight UTC; a time without zone is UTC."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return f"{value.strip()}T00:00:00Z"
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


Id = Annotated[str, AfterValidator(_id)]
Text = Annotated[str, Field(min_length=1, max_length=100_000)]
Regex = Annotated[str, AfterValidator(_regex)]
Time = Annotated[datetime | None, BeforeValidator(_time), AfterValidator(_utc)]
# A keyword, or a list of alternatives of which one must appear.
Keyword = Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turn(_Strict):
    role: Literal["user", "assistant"]
    content: Text

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        return {"role": "user", "content": value} if isinstance(value, str) else value


class Conversation(_Strict):
    """One conversation of the setup, replayed in order; `time` dates what was said in it."""

    turns: list[Turn] = Field(min_length=1)
    session: Id | None = None
    time: Time = None

    @property
    def user_turns(self) -> list[str]:
        return [turn.content for turn in self.turns if turn.role == "user"]


class Expect(_Strict):
    """What a right answer does; every criterion given must hold."""

    keywords: list[Keyword] = Field(
        default_factory=list, description="each must appear (a list: one of its items)"
    )
    regex: list[Regex] = Field(default_factory=list, description="each must match")
    reference: str | None = Field(None, description="a reference answer")
    follows: str | None = Field(
        None, description="a preference the answer must respect (judged by a model only)"
    )
    abstain: bool = Field(False, description="the right answer is to say it is not known")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"keywords": value}
        if isinstance(value, str):
            return {"reference": value}
        return value

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if not (self.keywords or self.regex or self.reference or self.follows or self.abstain):
            raise ValueError("expect needs keywords, regex, reference, follows or abstain")
        return self

    @property
    def needs_judge(self) -> bool:
        """Only a model can tell whether an answer respects a preference."""
        return self.follows is not None and not (self.keywords or self.regex or self.reference)


class Forbid(_Strict):
    """What a right answer must not claim: another user's fact, a superseded value, ..."""

    keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    regex: list[Regex] = Field(default_factory=list)
    claims: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="statements (rules: most of their words present)"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"keywords": value} if isinstance(value, list) else value

    @property
    def empty(self) -> bool:
        return not (self.keywords or self.regex or self.claims)


class Probe(_Strict):
    id: Id  # within a case; the case gives p1, p2, ... to probes without one
    question: Text
    expect: Expect
    forbid: Forbid = Forbid()


class Case(_Strict):
    id: Id
    user: Id | None = Field(None, description="whose memory; default: the case id")
    setup: list[Conversation] = Field(default_factory=list)
    probes: list[Probe] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _probe_ids(cls, value: Any) -> Any:
        """Probes get ids p1, p2, ... where none is given."""
        if isinstance(value, dict) and isinstance(value.get("probes"), list):
            probes = [
                {"id": f"p{i}", **p} if isinstance(p, dict) and p.get("id") is None else p
                for i, p in enumerate(value["probes"], 1)
            ]
            return {**value, "probes": probes}
        return value

    @model_validator(mode="after")
    def _unique_probes(self) -> Case:
        ids = [probe.id for probe in self.probes]
        for probe_id in ids:
            if ids.count(probe_id) > 1:
                raise ValueError(f"probe id {probe_id!r} appears twice")
        return self

    @property
    def owner(self) -> str:
        return self.user or self.id


def parse_cases(lines: Iterable[str], source: str = "cases") -> list[Case]:
    """Cases from JSONL text; an error names the line and the field."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            case = Case.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EvalError(f"{source} line {number}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            raise EvalError(f"{source} line {number}: {_first_problem(exc)}") from None
        if case.id in seen:
            raise EvalError(
                f"{source} line {number}: case id {case.id!r} already used on line {seen[case.id]}"
            )
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise EvalError(f"{source}: no cases")
    return cases


def load_cases(path: Path) -> list[Case]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvalError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_cases(text.splitlines(), str(path))


def dump_cases(cases: Iterable[Case]) -> str:
    """JSONL, one case per line, without the defaults (what a person would write)."""
    return "".join(
        json.dumps(case.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False) + "\n"
        for case in cases
    )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
