"""A memory as a chromadb row: its metadata dict and back (pure).

chromadb metadata values cannot be None (absent ids are stored as ""), and times are stored as
epoch seconds. Rows written by earlier versions lack `tier` and `attribute`: they are derived
here, the way the migration of such stores derives them (proxy/memory/storage/migrations.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from proxy.core.records import Memory, Tier
from proxy.core.scope import Scope
from proxy.core.times import from_timestamp
from proxy.memory.extract.attributes import attribute_of
from proxy.memory.extract.tiers import PROFILE_ATTRIBUTES

__all__ = ["from_row", "legacy_tier", "to_metadata", "vector_of", "with_vector"]

# The multilingual model's vector of a row, in its metadata: float16, base64 (1 KB a row, only
# for users whose memories need that model).
VECTOR_KEY = "v.multilingual-e5-small-q4"  # the key names the model: another model's are ignored


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: Any) -> datetime:
    # Never raises: a row written before times were range-checked must not break every read.
    return from_timestamp(value)


def to_metadata(memory: Memory, dropped: Iterable[str] = ()) -> dict[str, Any]:
    """The row's metadata. chromadb merges metadata on upsert, so keys the memory's own
    metadata lost (`dropped`) are written as None, which removes them."""
    metadata: dict[str, Any] = {
        "user_id": memory.scope.user_id,
        "session_id": memory.scope.session_id or "",
        "agent_id": memory.scope.agent_id or "",
        "created_at": _ts(memory.created_at),
        "occurred_at": _ts(memory.occurred_at),
        "updated_at": _ts(memory.updated_at or memory.created_at),
        "kind": memory.kind,
        "source": memory.source or "",
        "status": memory.status,
        "superseded_by": memory.superseded_by or "",
        "expires_at": _ts(memory.expires_at) if memory.expires_at else 0.0,
        "tier": memory.tier,
        "attribute": memory.attribute or "",
    }
    for key in dropped:
        if key not in memory.metadata:
            metadata[f"m.{key}"] = None
    for key, value in memory.metadata.items():
        metadata[f"m.{key}"] = value
    return metadata


def legacy_tier(kind: str, attribute: str | None) -> Tier:
    """The tier of a row written before tiers existed: preferences, constraints and what says
    who the user is become the profile."""
    if kind in ("preference", "constraint") or attribute in PROFILE_ATTRIBUTES:
        return "profile"
    return "episodic"


def from_row(memory_id: str, text: str, metadata: dict[str, Any]) -> Memory:
    kind = str(metadata.get("kind") or "fact")
    if "attribute" in metadata:
        attribute = str(metadata["attribute"]) or None
    else:
        attribute = attribute_of(text)
    stored = metadata.get("tier")
    tier: Tier = stored if stored in ("profile", "episodic") else legacy_tier(kind, attribute)
    return Memory(
        id=memory_id,
        text=text,
        scope=Scope(
            user_id=str(metadata["user_id"]),
            session_id=str(metadata.get("session_id") or "") or None,
            agent_id=str(metadata.get("agent_id") or "") or None,
        ),
        created_at=_dt(metadata["created_at"]),
        occurred_at=_dt(metadata.get("occurred_at", metadata["created_at"])),
        updated_at=_dt(metadata["updated_at"]) if metadata.get("updated_at") else None,
        kind=kind,
        source=str(metadata.get("source") or "") or None,
        metadata={k[2:]: str(v) for k, v in metadata.items() if k.startswith("m.")},
        status=str(metadata.get("status") or "active"),
        superseded_by=str(metadata.get("superseded_by") or "") or None,
        expires_at=_dt(metadata["expires_at"]) if metadata.get("expires_at") else None,
        tier="profile"
        if tier == "profile"
        else ("episodic" if tier else legacy_tier(kind, attribute)),
        attribute=attribute,
    )


def with_vector(
    metadata: dict[str, Any], vectors: Mapping[str, np.ndarray | None], memory_id: str
) -> dict[str, Any]:
    """The metadata with the memory's multilingual vector set (or dropped: None), if given."""
    if memory_id in vectors:
        vector = vectors[memory_id]
        metadata[VECTOR_KEY] = (
            None
            if vector is None
            else base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()
        )
    return metadata


def vector_of(metadata: Mapping[str, Any]) -> np.ndarray | None:
    """The multilingual vector stored in a row's metadata, normalised; None if it has none."""
    encoded = metadata.get(VECTOR_KEY)
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        vector = np.frombuffer(base64.b64decode(encoded), dtype=np.float16).astype(np.float32)
    except ValueError:
        return None  # damaged: the memory is searched by its other vector and by keywords
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None
