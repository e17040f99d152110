"""Reading chat messages: text of a message, the retrieval query, the new turn (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proxy.core.errors import InvalidRequest

__all__ = ["new_user_turn", "query_text", "text_of", "validate_messages"]


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def validate_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`messages` must be a non-empty list of objects each with a string `role`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages[{index}] must be an object with a string 'role'",
                param=f"messages[{index}]",
            )
    return messages


def new_user_turn(messages: Sequence[dict[str, Any]]) -> str:
    """The user's new turn: the last message, if it is the user's. Earlier turns were resent
    history (already written when they were new), and a tool result is not a user turn."""
    if messages and messages[-1].get("role") == "user":
        return text_of(messages[-1].get("content")).strip()
    return ""


def query_text(messages: Sequence[dict[str, Any]], max_chars: int = 2000) -> str:
    """What to search memory with: the last user turn, capped (long pastes add noise). The cap
    comes before the strip, so a huge paste costs nothing on the request path."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))[: max_chars * 2].strip()[:max_chars]
    return ""
