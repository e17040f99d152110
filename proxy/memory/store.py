"""Durable memory storage in chromadb: embedded on local disk, or a Chroma server for replicas.

Every read names a user id in its `where` filter: there is no call that returns rows of users
other than the one asked for. Blocking: call these methods from a worker thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from proxy.errors import MemoryUnavailable
from proxy.memory.models import Memory
from proxy.scope import Scope

COLLECTION = "memories"
RECONNECT_INTERVAL_S = 1.0


def _embedded_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def to_metadata(memory: Memory) -> dict[str, Any]:
    # chromadb metadata values cannot be None: absent ids are stored as "".
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
    }
    for key, value in memory.metadata.items():
        metadata[f"m.{key}"] = value
    return metadata


def from_row(memory_id: str, text: str, metadata: dict[str, Any]) -> Memory:
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
        kind=str(metadata.get("kind") or "fact"),
        source=str(metadata.get("source") or "") or None,
        metadata={k[2:]: str(v) for k, v in metadata.items() if k.startswith("m.")},
        status=str(metadata.get("status") or "active"),
        superseded_by=str(metadata.get("superseded_by") or "") or None,
        expires_at=_dt(metadata["expires_at"]) if metadata.get("expires_at") else None,
    )


class ChromaStore:
    def __init__(self, client: Any, embedder: str, collection: str = COLLECTION) -> None:
        self._client = client
        self._name = collection
        self._embedder = embedder
        self._files: Path | None = None  # the embedded store's folder (None: a Chroma server)
        self._recovery = threading.Lock()
        self._reconnected_at = -RECONNECT_INTERVAL_S
        self._collection = self._open()
        stored = (self._collection.metadata or {}).get("embedder")
        if stored and stored != embedder:
            # Vectors of different models are not comparable: searching them would be noise.
            raise MemoryUnavailable(
                f"this store holds {stored} vectors but the embedder is {embedder}; "
                "use another data dir (or export, then import into a fresh one)"
            )

    @classmethod
    def connect(cls, data_dir: Path, chroma_url: str | None, embedder: str) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if chroma_url:
                url = urlparse(chroma_url)
                client = chromadb.HttpClient(
                    host=url.hostname or "localhost",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                return cls(client, embedder)
            (data_dir / "chroma").mkdir(parents=True, exist_ok=True)
            store = cls(_embedded_client(data_dir / "chroma"), embedder)
            store._files = data_dir / "chroma"
            return store
        except MemoryUnavailable:
            raise
        except Exception as exc:  # chromadb raises many types; translate them here, once
            raise MemoryUnavailable(f"cannot open the memory store: {exc}") from exc

    def _open(self) -> Any:
        # We embed ourselves: no embedding function (chromadb's default downloads a model).
        return self._client.get_or_create_collection(
            self._name,
            embedding_function=None,
            metadata={"hnsw:space": "cosine", "embedder": self._embedder},
        )

    def _call(self, method: str, **kwargs: Any) -> Any:
        collection = self._collection
        try:
            return getattr(collection, method)(**kwargs)
        except Exception as first:
            try:
                self._recover(collection)
                return getattr(self._collection, method)(**kwargs)
            except Exception as exc:
                raise MemoryUnavailable(f"memory store {method} failed: {exc}") from first

    def _recover(self, failed: Any) -> None:
        """Reopen after a failed call: the collection may have been deleted or recreated under
        us (server restart, wiped dir); the embedded store's files may have been moved away and
        back, or restored from a copy, leaving our SQLite handles stale for good. So the embedded
        client is rebuilt too (at most once a second), but only while its files are there: a
        store that vanished is an outage, never silently replaced by an empty one."""
        with self._recovery:
            if self._collection is not failed:
                return  # another thread has already reopened it
            files = self._files
            now = time.monotonic()
            if (
                files is not None
                and (files / "chroma.sqlite3").is_file()
                and now - self._reconnected_at >= RECONNECT_INTERVAL_S
            ):
                self._reconnected_at = now
                with contextlib.suppress(Exception):  # the old client is broken anyway
                    self._client.close()  # the last reference: chromadb drops its cached system
                self._client = _embedded_client(files)
            self._collection = self._open()

    def upsert(self, memories: Sequence[Memory], vectors: np.ndarray) -> None:
        if not memories:
            return
        self._call(
            "upsert",
            ids=[m.id for m in memories],
            embeddings=np.asarray(vectors, dtype=np.float32),
            documents=[m.text for m in memories],
            metadatas=[to_metadata(m) for m in memories],
        )

    def load_user(self, user_id: str) -> tuple[list[Memory], np.ndarray]:
        result = self._call(
            "get",
            where={"user_id": user_id},
            include=["documents", "metadatas", "embeddings"],
        )
        memories = [
            from_row(memory_id, text or "", metadata or {})
            for memory_id, text, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            )
        ]
        embeddings = result["embeddings"]
        vectors = (
            np.asarray(embeddings, dtype=np.float32)
            if embeddings is not None and len(embeddings)
            else np.zeros((0, 0), dtype=np.float32)
        )
        return memories, vectors

    def get(self, ids: Sequence[str]) -> list[Memory]:
        result = self._call("get", ids=list(ids), include=["documents", "metadatas"])
        return [
            from_row(memory_id, text or "", metadata or {})
            for memory_id, text, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            )
        ]

    def expired_ids(self, now: datetime, limit: int = 1000) -> list[tuple[str, str]]:
        """(id, user_id) of memories whose expiry has passed."""
        result = self._call(
            "get",
            where={"$and": [{"expires_at": {"$gt": 0.0}}, {"expires_at": {"$lte": _ts(now)}}]},
            include=["metadatas"],
            limit=limit,
        )
        return [
            (memory_id, str((metadata or {}).get("user_id", "")))
            for memory_id, metadata in zip(result["ids"], result["metadatas"], strict=True)
        ]

    def scan(self, batch: int = 1000) -> Iterator[list[Memory]]:
        """Every memory of every user, in pages (export, stats)."""
        offset = 0
        while True:
            result = self._call(
                "get", include=["documents", "metadatas"], limit=batch, offset=offset
            )
            if not result["ids"]:
                return
            yield [
                from_row(memory_id, text or "", metadata or {})
                for memory_id, text, metadata in zip(
                    result["ids"], result["documents"], result["metadatas"], strict=True
                )
            ]
            offset += len(result["ids"])

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("delete", ids=list(ids))

    def count(self) -> int:
        return int(self._call("count"))

    def heartbeat(self) -> None:
        try:
            self._client.heartbeat()
        except Exception as exc:
            raise MemoryUnavailable(f"memory store unreachable: {exc}") from exc
