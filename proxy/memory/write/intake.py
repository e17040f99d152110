"""What a turn keeps before it is written anywhere (pure): at most MAX_TURN_CHARS of each side
(head and tail), valid UTF-8, and no secrets (nor contacts, by default). Redaction happens here,
first: the outbox, its WAL and everything after only ever see the redacted text."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.memory.extract.redact import redact

__all__ = ["MAX_TURN_CHARS", "Prepared", "prepare", "storable"]

# What a turn may keep of a longer text: its head and its tail (a pasted document is not what
# the user says about themselves, and redacting or extracting megabytes takes seconds).
MAX_TURN_CHARS = 16_000


def storable(text: str) -> str:
    """At most MAX_TURN_CHARS (head and tail), and valid UTF-8: JSON may carry lone surrogates
    ("\\ud800"), which SQLite cannot store; they become "?"."""
    if len(text) > MAX_TURN_CHARS:
        half = MAX_TURN_CHARS // 2
        text = f"{text[:half]}\n…\n{text[-half:]}"
    return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class Prepared:
    user_text: str
    assistant_text: str
    clipped: bool  # a side was longer than MAX_TURN_CHARS
    redacted: bool  # something was removed


def prepare(user_text: str, assistant_text: str, *, contacts: bool = True) -> Prepared:
    user = redact(storable(user_text), contacts=contacts)
    assistant = redact(storable(assistant_text), contacts=contacts)
    return Prepared(
        user_text=user.text,
        assistant_text=assistant.text,
        clipped=len(user_text) > MAX_TURN_CHARS or len(assistant_text) > MAX_TURN_CHARS,
        redacted=user.found or assistant.found,
    )
