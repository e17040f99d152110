"""Request and response bodies of the memory management API (they document it at /docs).

`MemoryOut` is also the export/import line format: one `MemoryOut` JSON object per line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from proxy.core.errors import InvalidRequest
from proxy.core.records import Event, Hit, Memory, Tier
from proxy.core.scope import Scope, validate_id
from proxy.core.times import check_event_time, check_expiry, utc
from proxy.memory.extract.attributes import attribute_of
from proxy.memory.extract.redact import redact

__all__ = [
    "MAX_METADATA_ITEMS",
    "MAX_TEXT_CHARS",
    "ChatMessage",
    "CreateMemory",
    "Deleted",
    "Erased",
    "EventOut",
    "EventTime",
    "Expiry",
    "ExpiryTime",
    "FlushResult",
    "HistoryList",
    "ImportResult",
    "ImportedMemory",
    "Kind",
    "MemoryList",
    "MemoryOut",
    "Metadata",
    "NewText",
    "Profile",
    "ScopeId",
    "SearchHit",
    "SearchRequest",
    "SearchResults",
    "Stats",
    "Text",
    "UpdateMemory",
    "UserCount",
    "UtcTime",
    "WriteOut",
    "secret_kinds",
]

MAX_TEXT_CHARS = 4000
MAX_METADATA_ITEMS = 32
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Kind = Literal["preference", "fact", "plan", "constraint", "event"]


def _scope_id(value: str) -> str:
    try:
        return validate_id(value, "id")
    except InvalidRequest as exc:
        raise ValueError(exc.message.removeprefix("id ")) from None


def _utc(value: datetime | None) -> datetime | None:
    """A time without zone is taken as UTC, as X-Memory-Time does."""
    return None if value is None else utc(value)


def _event_time(value: datetime) -> datetime:
    """When something happened, as the client says: 1900 to a day from now (proxy/times.py)."""
    return check_event_time(value, datetime.now(UTC))


def _expiry_time(value: datetime) -> datetime:
    return check_expiry(value)


def _metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return value
    if len(value) > MAX_METADATA_ITEMS:
        raise ValueError(f"at most {MAX_METADATA_ITEMS} metadata entries")
    for key, item in value.items():
        if not _METADATA_KEY.match(key):
            raise ValueError(f"metadata key {key!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        if len(item) > 1000:
            raise ValueError(f"metadata value of {key!r} is longer than 1000 characters")
    return value


def secret_kinds(text: str) -> str | None:
    """The kinds of secret in `text`, or None: memories never hold secrets (README)."""
    found = redact(text, contacts=False)  # explicit writes may hold contacts; chats may not
    return ", ".join(dict.fromkeys(found.kinds)) if found.found else None


def _new_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    kinds = secret_kinds(value)
    if kinds:
        raise ValueError(f"holds a secret ({kinds}); secrets are never stored")
    return value


ScopeId = Annotated[str, AfterValidator(_scope_id)]
UtcTime = Annotated[datetime, AfterValidator(_utc)]
# Times a client sends are checked against the accepted range; times read back are not.
EventTime = Annotated[datetime, AfterValidator(_event_time)]
ExpiryTime = Annotated[datetime, AfterValidator(_expiry_time)]
Metadata = Annotated[dict[str, str] | None, AfterValidator(_metadata)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
NewText = Annotated[Text, AfterValidator(_new_text)]


class MemoryOut(BaseModel):
    """One memory. Export writes one of these per line; import reads them back."""

    model_config = ConfigDict(extra="ignore")

    object: Literal["memory"] = "memory"
    id: str
    text: str
    user_id: str
    session_id: str | None = None
    agent_id: str | None = None
    kind: str = "fact"
    tier: Tier = Field(
        "episodic",
        description="profile: holds until the user changes it, considered on every request; "
        "episodic: found by recency and relevance",
    )
    created_at: UtcTime
    occurred_at: UtcTime
    updated_at: UtcTime | None = None
    source: str | None = None
    metadata: dict[str, str] = {}
    status: Literal["active", "superseded"] = "active"
    superseded_by: str | None = None
    expires_at: UtcTime | None = Field(None, description="past it the memory is gone; null: never")

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        return cls(
            id=memory.id,
            text=memory.text,
            user_id=memory.scope.user_id,
            session_id=memory.scope.session_id,
            agent_id=memory.scope.agent_id,
            kind=memory.kind,
            tier=memory.tier,
            created_at=memory.created_at,
            occurred_at=memory.occurred_at,
            # The store reads a never-updated memory back with updated_at == created_at.
            updated_at=None if memory.updated_at == memory.created_at else memory.updated_at,
            source=memory.source,
            metadata=memory.metadata,
            status="superseded" if memory.status == "superseded" else "active",
            superseded_by=memory.superseded_by,
            expires_at=memory.expires_at,
        )

    def to_memory(self) -> Memory:
        return Memory(
            id=self.id,
            text=self.text,
            scope=Scope(self.user_id, self.session_id, self.agent_id),
            created_at=self.created_at,
            occurred_at=self.occurred_at,
            kind=self.kind,
            tier=self.tier,
            attribute=attribute_of(self.text),
            source=self.source,
            updated_at=self.updated_at,
            metadata=dict(self.metadata),
            status=self.status,
            superseded_by=self.superseded_by,
            expires_at=self.expires_at,
        )


class ImportedMemory(MemoryOut):
    """An import line: what the API would accept when writing, checked the same way."""

    id: ScopeId
    text: NewText
    user_id: ScopeId
    session_id: ScopeId | None = None
    agent_id: ScopeId | None = None
    created_at: EventTime
    occurred_at: EventTime
    updated_at: EventTime | None = None
    expires_at: ExpiryTime | None = None
    metadata: Annotated[dict[str, str], AfterValidator(_metadata)] = {}


class MemoryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[MemoryOut]
    has_more: bool = False
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class SearchRequest(BaseModel):
    user_id: ScopeId
    session_id: ScopeId | None = None
    agent_id: ScopeId | None = None
    query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    k: int = Field(10, ge=1, le=100, description="most memories returned")

    @property
    def scope(self) -> Scope:
        return Scope(self.user_id, self.session_id, self.agent_id)


class SearchHit(MemoryOut):
    score: float = Field(description="fused relevance (vector + keyword), higher is better")
    similarity: float = Field(description="cosine similarity to the query")

    @classmethod
    def of_hit(cls, hit: Hit) -> SearchHit:
        return cls(
            **MemoryOut.of(hit.memory).model_dump(), score=hit.score, similarity=hit.similarity
        )


class SearchResults(BaseModel):
    object: Literal["list"] = "list"
    data: list[SearchHit]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class Expiry(BaseModel):
    ttl_seconds: int | None = Field(None, ge=1, description="expire this many seconds from now")
    expires_at: ExpiryTime | None = Field(None, description="expire at this time (ISO 8601)")

    def check(self) -> None:
        """Rules across fields, refused with a message that names the field (a 400)."""
        if self.ttl_seconds is not None and self.expires_at is not None:
            raise InvalidRequest(
                "give ttl_seconds or expires_at, not both",
                param="ttl_seconds",
                code="invalid_expiry",
            )

    def expiry(self, now: datetime) -> datetime | None:
        """The requested expiry; None when none was asked for."""
        if self.ttl_seconds is not None:
            return now + timedelta(seconds=self.ttl_seconds)
        if self.expires_at is not None:
            if self.expires_at <= now:
                raise InvalidRequest(
                    "expires_at must be in the future", param="expires_at", code="invalid_expiry"
                )
            return self.expires_at
        return None


class CreateMemory(Expiry):
    """Either `text` (stored as given, as one memory) or `messages` (the user's messages are run
    through the offline extractor, as a chat turn would be)."""

    user_id: ScopeId
    session_id: ScopeId | None = None
    agent_id: ScopeId | None = None
    text: NewText | None = None
    kind: Kind = Field("fact", description="with `text` only")
    tier: Tier | None = Field(None, description="with `text` only; default: classified from it")
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=1000)
    metadata: Metadata = None
    occurred_at: EventTime | None = Field(
        None, description="when it was said (1900 to a day from now); default now"
    )

    def check(self) -> None:
        if (self.text is None) == (self.messages is None):
            raise InvalidRequest("give exactly one of text or messages", param="text")
        super().check()

    @property
    def scope(self) -> Scope:
        return Scope(self.user_id, self.session_id, self.agent_id)


class UpdateMemory(Expiry):
    """Only the fields given change. `metadata` replaces the whole mapping; `"expires_at": null`
    removes the expiry."""

    text: NewText | None = None
    metadata: Metadata = None

    def check(self) -> None:
        if not self.model_fields_set & {"text", "metadata", "ttl_seconds", "expires_at"}:
            raise InvalidRequest("give at least one of text, metadata, ttl_seconds, expires_at")
        if "text" in self.model_fields_set and self.text is None:
            raise InvalidRequest("text cannot be null", param="text")
        if "metadata" in self.model_fields_set and self.metadata is None:
            raise InvalidRequest("metadata cannot be null; send {} to remove it", param="metadata")
        super().check()

    @property
    def clears_expiry(self) -> bool:
        return "expires_at" in self.model_fields_set and self.expires_at is None


class WriteOut(BaseModel):
    object: Literal["memory.write"] = "memory.write"
    added: list[MemoryOut] = []
    updated: list[MemoryOut] = Field([], description="existing memories the new text matched")
    superseded: list[MemoryOut] = Field([], description="older statements the new one replaced")
    deleted: list[str] = Field([], description="ids removed by 'forget ...' in the messages")


class Deleted(BaseModel):
    object: Literal["memory.deleted"] = "memory.deleted"
    id: str
    deleted: bool = True


class Erased(BaseModel):
    object: Literal["memory.erased"] = "memory.erased"
    user_id: str
    session_id: str | None
    deleted: int


class EventOut(BaseModel):
    memory_id: str
    user_id: str
    session_id: str | None
    event: str = Field(description="ADD, UPDATE, DELETE or SUPERSEDE")
    old_text: str | None
    new_text: str | None
    at: datetime
    source: str | None
    extractor: str | None

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            memory_id=event.memory_id,
            user_id=event.user_id,
            session_id=event.session_id,
            event=event.event,
            old_text=event.old_text,
            new_text=event.new_text,
            at=event.at,
            source=event.source,
            extractor=event.extractor,
        )


class HistoryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EventOut]


class ImportResult(BaseModel):
    object: Literal["memory.import"] = "memory.import"
    imported: int = Field(description="lines read")
    added: int = Field(description="memories that were not stored before")
    updated: int = Field(description="stored memories that differed and were overwritten")
    unchanged: int = Field(description="stored memories already identical (import is idempotent)")


class UserCount(BaseModel):
    user_id: str
    memories: int = Field(description="live memories (not expired, not superseded)")
    superseded: int


class Stats(BaseModel):
    object: Literal["memory.stats"] = "memory.stats"
    total: int = Field(description="live memories of all users")
    superseded: int = Field(description="superseded memories kept for history (exported too)")
    users: list[UserCount]


class FlushResult(BaseModel):
    flushed: bool
    backlog: dict[str, int]


class Profile(BaseModel):
    """A user's standing profile, and what of it a request would carry."""

    object: Literal["memory.profile"] = "memory.profile"
    user_id: str
    agent_id: str | None = None
    data: list[MemoryOut] = Field(description="every live profile memory, oldest first")
    injected: list[str] = Field(description="ids of those a request would carry")
    block: str = Field(description="the profile block as the model would see it")
    tokens: int = Field(description="estimated tokens of the block")
