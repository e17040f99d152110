"""The arms of an eval and what each sends to the model (pure).

- no-memory: the question alone, straight to the upstream;
- memory: the question alone, through the proxy as the case's user (read-only, so asking never
  changes what later probes see); the proxy adds what it remembers;
- full-context: every setup conversation of the user, in order, then the question, straight to
  the upstream: the upper bound a long context buys, and what it costs in tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from proxy.core.scope import AGENT_HEADER, MODE_HEADER, SESSION_HEADER, TIME_HEADER, USER_HEADER
from proxy.eval.cases import Case, Conversation

__all__ = [
    "SETUP_CONTEXT",
    "Arm",
    "SetupTurn",
    "parse_arms",
    "probe_headers",
    "probe_messages",
    "setup_plan",
    "user_history",
]

# Earlier messages of its conversation sent with each setup turn: enough for the model to answer
# in context, bounded so that long setups do not cost quadratically many tokens.
SETUP_CONTEXT = 6

Message = dict[str, str]


class Arm(StrEnum):
    NO_MEMORY = "no-memory"
    MEMORY = "memory"
    FULL_CONTEXT = "full-context"

    @property
    def through_proxy(self) -> bool:
        return self is Arm.MEMORY


def parse_arms(text: str) -> list[Arm]:
    """ "no-memory,memory" -> arms in the order given; unknown names are a ValueError."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    arms: list[Arm] = []
    for name in names:
        try:
            arm = Arm(name)
        except ValueError:
            allowed = ", ".join(a.value for a in Arm)
            raise ValueError(f"unknown arm {name!r} (arms: {allowed})") from None
        if arm not in arms:
            arms.append(arm)
    if not arms:
        raise ValueError("no arms given")
    return arms


def user_history(cases: Sequence[Case], user: str) -> list[Message]:
    """Every setup turn of the user across the cases, in file order, as chat messages."""
    messages: list[Message] = []
    for case in cases:
        if case.owner != user:
            continue
        for conversation in case.setup:
            messages += [{"role": t.role, "content": t.content} for t in conversation.turns]
    return messages


def probe_messages(arm: Arm, question: str, history: Sequence[Message]) -> list[Message]:
    asked = {"role": "user", "content": question}
    if arm is Arm.FULL_CONTEXT:
        return [*history, asked]
    return [asked]


def probe_headers(memory_user: str, agent: str | None = None) -> dict[str, str]:
    headers = {USER_HEADER: memory_user, MODE_HEADER: "read-only"}
    if agent:
        headers[AGENT_HEADER] = agent
    return headers


@dataclass(frozen=True)
class SetupTurn:
    """One user turn to replay: the messages of its call and the headers that date and place it."""

    user: str  # the case's user (not yet prefixed with the run's id)
    messages: list[Message]
    conversation: Conversation

    def headers(self, memory_user: str) -> dict[str, str]:
        # write-only: the replay is not what is measured, and recalled memories would only
        # cost tokens here.
        headers = {USER_HEADER: memory_user, MODE_HEADER: "write-only"}
        if self.conversation.session:
            headers[SESSION_HEADER] = self.conversation.session
        if self.conversation.time is not None:
            headers[TIME_HEADER] = self.conversation.time.isoformat()
        return headers


def setup_plan(cases: Sequence[Case]) -> dict[str, list[SetupTurn]]:
    """Per user, the setup's user turns in order, each with up to SETUP_CONTEXT earlier messages
    of its conversation (the assistant turns as the case gives them)."""
    plan: dict[str, list[SetupTurn]] = {}
    for case in cases:
        turns = plan.setdefault(case.owner, [])
        for conversation in case.setup:
            turns += list(_turns(case.owner, conversation))
    return {user: turns for user, turns in plan.items() if turns}


def _turns(user: str, conversation: Conversation) -> Iterator[SetupTurn]:
    for index, turn in enumerate(conversation.turns):
        if turn.role != "user":
            continue
        earlier = conversation.turns[max(0, index - SETUP_CONTEXT) : index]
        messages = [{"role": t.role, "content": t.content} for t in earlier]
        yield SetupTurn(user, [*messages, {"role": "user", "content": turn.content}], conversation)
