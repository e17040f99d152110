"""Build the memory block and place it into the messages (pure)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from proxy.core.records import Memory
from proxy.core.tokens import estimate_tokens

# Short on purpose: every token of the header is taken from the memories' budget.
BLOCK_HEADER = (
    "<memories>\nAbout the user, from earlier conversations (dated; newer wins). "
    "Use only if relevant; don't mention this list."
)
BLOCK_FOOTER = "</memories>"
SYSTEM_ROLES = ("system", "developer")


def render_line(memory: Memory) -> str:
    return f"- [{memory.occurred_at.date().isoformat()}] {memory.text}"


def build_block(memories: Sequence[Memory], token_budget: int) -> tuple[str, list[Memory]]:
    """The block with as many memories (in the given order) as fit the budget; '' if none fit."""
    used = estimate_tokens(BLOCK_HEADER) + estimate_tokens(BLOCK_FOOTER) + 2
    lines: list[str] = []
    kept: list[Memory] = []
    for memory in memories:
        line = render_line(memory)
        cost = estimate_tokens(line) + 1
        if used + cost > token_budget:
            continue  # a shorter, less relevant memory may still fit
        used += cost
        lines.append(line)
        kept.append(memory)
    if not kept:
        return "", []
    return "\n".join([BLOCK_HEADER, *lines, BLOCK_FOOTER]), kept


def inject(
    messages: Sequence[dict[str, Any]], system_block: str | None, turn_block: str | None = None
) -> list[dict[str, Any]]:
    """Messages with `system_block` at the end of the first system/developer message (role and
    non-text parts kept), or as a new system message at index 0. Appending keeps the client's
    own system prefix stable for prompt caching; neither placement can come between an
    assistant's tool_calls and its tool replies."""
    result = list(messages)
    if system_block:
        result = _into_system(result, system_block)
    return result


def _into_system(messages: list[dict[str, Any]], block: str) -> list[dict[str, Any]]:
    for index, message in enumerate(messages):
        if message.get("role") in SYSTEM_ROLES:
            messages[index] = _append_to(message, block)
            return messages
    return [{"role": "system", "content": block}, *messages]


def _append_to(message: dict[str, Any], block: str) -> dict[str, Any]:
    updated = dict(message)
    content = message.get("content")
    if isinstance(content, list):
        updated["content"] = [*copy.copy(content), {"type": "text", "text": block}]
    elif isinstance(content, str) and content:
        updated["content"] = f"{content}\n\n{block}"
    else:
        updated["content"] = block
    return updated
