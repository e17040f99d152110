"""The setup phase of the memory arm: every case's conversations, told to the proxy as its user.

`chat` sends each user turn through the proxy's /v1/chat/completions to the model, as an app
would (the proxy extracts with whatever extractor it is configured with); `api` writes each
conversation's user turns through POST /memories (the offline extractor, no model call: cheap,
for large case files). Either way the writes are flushed before any probe is asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from proxy.eval.arms import SetupTurn
from proxy.eval.client import ChatClient, MemoryRoutes, describe

__all__ = ["SetupMode", "SetupStats", "replay"]

log = logging.getLogger(__name__)

SetupMode = Literal["chat", "api"]


@dataclass
class SetupStats:
    users: int = 0
    turns: int = 0
    calls: int = 0
    failed_calls: int = 0
    tokens: int = 0


async def replay(
    plan: dict[str, list[SetupTurn]],
    memory_user: Callable[[str], str],
    mode: SetupMode,
    chat: ChatClient,
    routes: MemoryRoutes,
    concurrency: int,
    on_turns: Callable[[int], None],
) -> SetupStats:
    """Users in parallel (up to `concurrency`), each user's turns in order: a later statement
    must reach the store after the one it replaces."""
    stats = SetupStats(users=len(plan), turns=sum(len(t) for t in plan.values()))
    gate = asyncio.Semaphore(concurrency)

    async def tell(user: str, turns: Sequence[SetupTurn]) -> None:
        async with gate:
            if mode == "chat":
                await _by_chat(memory_user(user), turns, chat, stats, on_turns)
            else:
                await _by_api(memory_user(user), turns, routes, stats, on_turns)

    await asyncio.gather(*(tell(user, turns) for user, turns in plan.items()))
    await routes.flush()
    return stats


async def _by_chat(
    user: str,
    turns: Sequence[SetupTurn],
    chat: ChatClient,
    stats: SetupStats,
    on_turns: Callable[[int], None],
) -> None:
    for turn in turns:
        stats.calls += 1
        try:
            answer = await chat.ask(turn.messages, turn.headers(user))
            stats.tokens += answer.prompt_tokens + answer.completion_tokens
        except Exception as exc:  # the SDK raises one type per status; each is one failed call
            # The proxy keeps what the user said even when the model fails: counted, not fatal.
            stats.failed_calls += 1
            log.warning("setup turn of %s failed: %s", user, describe(exc))
        on_turns(1)


async def _by_api(
    user: str,
    turns: Sequence[SetupTurn],
    routes: MemoryRoutes,
    stats: SetupStats,
    on_turns: Callable[[int], None],
) -> None:
    """One POST per conversation, with its user turns in order."""
    index = 0
    while index < len(turns):
        conversation = turns[index].conversation
        group = [turns[index]]
        index += 1
        while index < len(turns) and turns[index].conversation is conversation:
            group.append(turns[index])
            index += 1
        stats.calls += 1
        await routes.write(
            user,
            [t.messages[-1]["content"] for t in group],
            conversation.session,
            conversation.time,
        )
        on_turns(len(group))
