"""Who is asking: user, session and agent ids, the memory mode and the turn's time (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from proxy.core.errors import InvalidRequest, TimeOutOfRange
from proxy.core.times import check_event_time

__all__ = [
    "AGENT_HEADER",
    "MAX_ID_LENGTH",
    "MODE_HEADER",
    "OWN_HEADERS",
    "SESSION_HEADER",
    "TIME_HEADER",
    "USER_HEADER",
    "MemoryMode",
    "RequestScope",
    "Scope",
    "header_text",
    "parse_mode",
    "parse_time",
    "resolve_scope",
    "validate_id",
]

MAX_ID_LENGTH = 256

USER_HEADER = "x-user-id"
SESSION_HEADER = "x-session-id"
AGENT_HEADER = "x-agent-id"
MODE_HEADER = "x-memory-mode"
TIME_HEADER = "x-memory-time"
# Body fields that name the end user, in order: OpenAI's SDK is replacing `user` by
# `safety_identifier`. (Anthropic's `metadata.user_id` is not one: Claude Code fills it with an
# id per session, which would split one person's memory into a user per session.)
BODY_USER_FIELDS = ("user", "safety_identifier")
QUERY_USER = "user_id"
# Our own request headers: they carry scope for us and are never forwarded upstream.
OWN_HEADERS = frozenset({USER_HEADER, SESSION_HEADER, AGENT_HEADER, MODE_HEADER, TIME_HEADER})


class MemoryMode(StrEnum):
    ON = "on"
    READ_ONLY = "read-only"
    WRITE_ONLY = "write-only"
    OFF = "off"

    @property
    def reads(self) -> bool:
        return self in (MemoryMode.ON, MemoryMode.READ_ONLY)

    @property
    def writes(self) -> bool:
        return self in (MemoryMode.ON, MemoryMode.WRITE_ONLY)


@dataclass(frozen=True)
class Scope:
    """The namespace a memory belongs to; every read and write is filtered by all given ids."""

    user_id: str
    session_id: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True)
class RequestScope:
    scope: Scope | None  # None: no user id, memory is off for this request
    mode: MemoryMode
    occurred_at: datetime | None  # when the turn happened (X-Memory-Time), None means now


def validate_id(value: Any, param: str) -> str:
    """An id is 1..256 printable characters; anything else is refused, never guessed at. Ids are
    compared in Unicode NFC: "Zoë" typed as e + combining diaeresis (NFD, as macOS file names
    and some keyboards give it) is the same user as "Zoë" in one code point."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{param} must be a string", param=param, code="invalid_scope_id")
    text = unicodedata.normalize("NFC", value)
    if not text or len(text) > MAX_ID_LENGTH:
        raise InvalidRequest(
            f"{param} must be 1 to {MAX_ID_LENGTH} characters", param=param, code="invalid_scope_id"
        )
    if not text.isprintable() or text != text.strip():
        raise InvalidRequest(
            f"{param} must be printable characters without surrounding spaces",
            param=param,
            code="invalid_scope_id",
        )
    return text


def header_text(value: str) -> str:
    """A header value as the client wrote it. HTTP servers hand header bytes over decoded as
    latin-1; clients send UTF-8, so "Zoë" in X-User-Id would arrive as "ZoÃ«" and be another user
    than the same id sent in the body or the query. Bytes that are not UTF-8 stay as they came."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def parse_mode(value: str | None) -> MemoryMode:
    if value is None or value.strip() == "":
        return MemoryMode.ON
    try:
        return MemoryMode(value.strip().lower())
    except ValueError:
        allowed = ", ".join(mode.value for mode in MemoryMode)
        raise InvalidRequest(
            f"X-Memory-Mode must be one of: {allowed}",
            param=MODE_HEADER,
            code="invalid_memory_mode",
        ) from None


def parse_time(value: str | None, now: datetime | None = None) -> datetime | None:
    """ISO 8601 time of the turn, in UTC (a time without zone is taken as UTC), between 1900
    and a day from now (proxy/times.py: one out-of-range time once stopped every write)."""
    if value is None or value.strip() == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return check_event_time(parsed, now or datetime.now(UTC))
    except TimeOutOfRange as exc:
        raise InvalidRequest(
            f"X-Memory-Time {exc}", param=TIME_HEADER, code="invalid_memory_time"
        ) from None
    except ValueError:
        raise InvalidRequest(
            "X-Memory-Time must be an ISO 8601 time, e.g. 2023-05-08T13:56:00Z",
            param=TIME_HEADER,
            code="invalid_memory_time",
        ) from None


def resolve_scope(
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
    query: Mapping[str, str],
    path_user: str | None = None,
) -> RequestScope:
    """Scope of one call; headers are lower-case. The user id comes from the first of:

    1. the `X-User-Id` header,
    2. the base URL's path (`/u/{user_id}/v1/...`): configuration the operator wrote, so it wins
       over what an app puts in the body for its own reasons,
    3. the body's `user`, then its `safety_identifier` (OpenAI's successor of `user`),
    4. `?user_id=` in the query (for curl; it is never forwarded upstream).
    """
    mode = parse_mode(headers.get(MODE_HEADER))
    occurred_at = parse_time(headers.get(TIME_HEADER))
    user_id = _user_id(headers, body, query, path_user)
    if user_id is None:
        return RequestScope(scope=None, mode=MemoryMode.OFF, occurred_at=occurred_at)
    session_id = headers.get(SESSION_HEADER)
    agent_id = headers.get(AGENT_HEADER)
    scope = Scope(
        user_id=user_id,
        session_id=None
        if session_id is None
        else validate_id(header_text(session_id), "X-Session-Id"),
        agent_id=None if agent_id is None else validate_id(header_text(agent_id), "X-Agent-Id"),
    )
    return RequestScope(scope=scope, mode=mode, occurred_at=occurred_at)


def _user_id(
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
    query: Mapping[str, str],
    path_user: str | None,
) -> str | None:
    if USER_HEADER in headers:
        return validate_id(header_text(headers[USER_HEADER]), "X-User-Id")
    if path_user is not None:
        return validate_id(path_user, "/u/{user_id}")
    for field in BODY_USER_FIELDS:
        if body is not None and body.get(field) is not None:
            return validate_id(body[field], field)
    if QUERY_USER in query:
        return validate_id(query[QUERY_USER], QUERY_USER)
    return None
