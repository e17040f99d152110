"""Durable memory storage in chromadb: embedded on local disk, or a Chroma server for replicas.

Every read on a request's path names a user id in its `where` filter: there is no such call
that returns rows of users other than the one asked for (whole-store reads serve export, stats
and expiry). Blocking: call these methods from a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

from proxy.core.errors import MemoryUnavailable
from proxy.core.records import Memory
from proxy.memory.storage.chroma_errors import is_outage
from proxy.memory.storage.compaction import compact_chroma
from proxy.memory.storage.rows import from_row, to_metadata, vector_of, with_vector

__all__ = [
    "LOAD_PAGE",
    "META_COLLECTION",
    "PREFIX",
    "RECONNECT_INTERVAL_S",
    "ROW_FORMAT",
    "SHARDS",
    "ChromaStore",
    "shard_of",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "memories-"  # + a two-digit shard number
SHARDS = 64
META_COLLECTION = "memory-proxy-meta"  # one row: the row format the store is at
# The row format this version writes (proxy/memory/storage/migrations.py brings older ones up).
ROW_FORMAT = 2
RECONNECT_INTERVAL_S = 1.0
LOAD_PAGE = 1000  # rows per read when loading a user


def _embedded_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


# What a read of a shard that has no collection yet returns.
_EMPTY: dict[str, Any] = {
    "get": {"ids": [], "documents": [], "metadatas": [], "embeddings": None},
    "count": 0,
    "delete": None,
    "update": None,
}


def _worth_reopening(exc: Exception) -> bool:
    """An outage chromadb reported (MemoryUnavailable is ours: it already says what is wrong)."""
    return not isinstance(exc, MemoryUnavailable) and is_outage(exc)


def shard_of(user_id: str, shards: int = SHARDS) -> int:
    """Stable across processes and versions (unlike hash()): every replica agrees."""
    digest = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class ChromaStore:
    """Memories in SHARDS collections, a user's rows all in one of them (chosen by a hash of the
    user id). chromadb's `where` filter costs time in proportion to the collection it scans
    (measured: 4 ms at 30k rows, 13 ms at 120k, 91 ms at 315k), and loading a user's rows is
    the one read on a request's path: sharding keeps it at a shard's size. Collections are
    opened on first use."""

    def __init__(self, client: Any, embedder: str, shards: int = SHARDS) -> None:
        self._client = client
        self._embedder = embedder
        self._shards = shards
        self._files: Path | None = None  # the embedded store's folder (None: a Chroma server)
        self._recovery = threading.Lock()
        self._reconnected_at = -RECONNECT_INTERVAL_S
        self._collections: dict[int, Any] = {}
        # Called when the embedded client is rebuilt: the files may now be an older copy, so
        # whatever was read from the old ones (the in-process indexes) is suspect.
        self.on_reconnect: Callable[[], None] | None = None
        self._collection(0, create=True)  # fail now if unreachable or of another embedder
        fresh = self._existing_shards() == [0] and not self._call(0, "count")
        if fresh and self.schema_version() is None:
            self.set_schema_version(ROW_FORMAT)  # a new store: nothing to migrate, ever

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
        except Exception as exc:
            # Fail open either way (the proxy serves without memory); a failure that is not an
            # outage is a bug, logged with its traceback.
            if not is_outage(exc):
                log.exception("opening the memory store failed unexpectedly")
            raise MemoryUnavailable(f"cannot open the memory store: {exc}") from exc

    # --- collections -----------------------------------------------------------------------

    def _collection(self, shard: int, *, create: bool) -> Any | None:
        """The shard's collection; None if it does not exist and `create` is false (reads never
        create one: a read of an unmounted store must not leave new files behind)."""
        collection = self._collections.get(shard)
        if collection is None:
            collection = self._open(shard, create)
            if collection is not None:
                self._collections[shard] = collection
        return collection

    def _open(self, shard: int, create: bool) -> Any | None:
        from chromadb.errors import NotFoundError

        name = f"{PREFIX}{shard:02d}"
        if create:
            # We embed ourselves: no embedding function (chromadb's default downloads a
            # model). The proxy searches its own in-process index, never chromadb's HNSW
            # graph, so the graph is built cheaply (ingest ~40% faster, measured).
            collection = self._live_client().get_or_create_collection(
                name,
                embedding_function=None,
                metadata={
                    "hnsw:space": "cosine",
                    "hnsw:M": 8,
                    "hnsw:construction_ef": 16,
                    "embedder": self._embedder,
                },
            )
        else:
            try:
                collection = self._live_client().get_collection(name)
            except NotFoundError:
                return None
        stored = (collection.metadata or {}).get("embedder")
        if stored and stored != self._embedder:
            # Vectors of different models are not comparable: searching them would be noise.
            raise MemoryUnavailable(
                f"this store holds {stored} vectors but the embedder is {self._embedder}; "
                "use another data dir (or export, then import into a fresh one)"
            )
        return collection

    def _call(self, shard: int, method: str, *, create: bool = False, **kwargs: Any) -> Any:
        """Call a method of the shard's collection; a missing shard reads as empty."""
        return self._reopening(method, lambda: self._invoke(shard, method, create, kwargs))

    def _reopening(self, what: str, call: Callable[[], T]) -> T:
        """`call()`; after an outage, the store is reopened and the call made once more. An
        outage that persists is MemoryUnavailable (the writer keeps the turn and retries
        later); any other error is a bug and propagates unchanged, with its traceback."""
        try:
            return call()
        except Exception as exc:
            if not _worth_reopening(exc):
                raise
        try:
            self._recover()
            return call()
        except Exception as exc:
            if not _worth_reopening(exc):
                raise
            raise MemoryUnavailable(f"memory store {what} failed: {exc}") from exc

    def _invoke(self, shard: int, method: str, create: bool, kwargs: dict[str, Any]) -> Any:
        if create or shard not in self._collections:
            self._check_files()
        collection = self._collection(shard, create=create)
        if collection is None:
            return _EMPTY[method]
        return getattr(collection, method)(**kwargs)

    def _recover(self) -> None:
        """Reopen after a failed call: a collection may have been deleted or recreated under
        us (server restart, wiped dir); the embedded store's files may have been moved away and
        back, or restored from a copy, leaving our SQLite handles stale for good. So the embedded
        client is rebuilt too (at most once a second), but only while its files are there: a
        store that vanished is an outage, never silently replaced by an empty one."""
        with self._recovery:
            self._check_files()
            self._collections = {}  # opened through the old client: never used again
            files = self._files
            now = time.monotonic()
            if files is None or now - self._reconnected_at < RECONNECT_INTERVAL_S:
                return
            self._reconnected_at = now
            if self._client is not None:
                with contextlib.suppress(Exception):  # the old client is broken anyway
                    self._client.close()  # the last reference: chromadb drops its cached system
                self._client = None  # a rebuild that fails is tried again on the next call
            self._client = _embedded_client(files)
            if self.on_reconnect is not None:
                self.on_reconnect()

    def _live_client(self) -> Any:
        """The chromadb client; after a rebuild that failed, another attempt."""
        if self._client is None:
            self._recover()
        if self._client is None:
            raise MemoryUnavailable("the memory store could not be reopened yet")
        return self._client

    def _check_files(self) -> None:
        """An embedded store whose files are gone (an unmounted disk, a folder moved away) is
        an outage: chromadb would write new, empty files in their place."""
        files = self._files
        if files is not None and not (files / "chroma.sqlite3").is_file():
            raise MemoryUnavailable(f"the memory store's files are missing from {files}")

    def _existing_shards(self) -> list[int]:
        """Shards that hold a collection (whole-store reads skip the rest)."""
        names = self._reopening("list", self._client_collection_names)
        return [i for i in range(self._shards) if f"{PREFIX}{i:02d}" in names]

    def _client_collection_names(self) -> set[str]:
        collections = self._live_client().list_collections()
        return {c if isinstance(c, str) else c.name for c in collections}

    # --- rows ------------------------------------------------------------------------------

    def upsert(
        self,
        memories: Sequence[Memory],
        vectors: np.ndarray,
        multilingual: Mapping[str, np.ndarray | None] | None = None,
        dropped: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Store memories with their primary vectors; `multilingual` (memory id -> vector, or
        None to drop it) sets their vector of the multilingual model, kept in the row's
        metadata (a row without one keeps what it had: chromadb merges metadata); `dropped`
        (memory id -> keys) removes metadata keys a memory no longer has."""
        if not memories:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        extra = multilingual or {}
        by_shard: dict[int, list[int]] = defaultdict(list)
        for row, memory in enumerate(memories):
            by_shard[shard_of(memory.scope.user_id, self._shards)].append(row)
        for shard, rows in by_shard.items():
            self._call(
                shard,
                "upsert",
                create=True,
                ids=[memories[i].id for i in rows],
                embeddings=vectors[rows],
                documents=[memories[i].text for i in rows],
                metadatas=[
                    with_vector(
                        to_metadata(memories[i], (dropped or {}).get(memories[i].id, ())),
                        extra,
                        memories[i].id,
                    )
                    for i in rows
                ],
            )

    def load_user(self, user_id: str) -> tuple[list[Memory], np.ndarray]:
        memories, vectors, _ = self.load_user_spaces(user_id)
        return memories, vectors

    def load_user_spaces(
        self, user_id: str
    ) -> tuple[list[Memory], np.ndarray, dict[str, np.ndarray]]:
        """All of a user's rows with their primary vectors, and the multilingual vectors of
        those that have one (memory id -> vector). Read in pages: chromadb holds the GIL while
        it converts a result, and one read of a 10k-memory user stalled every other thread
        for 221 ms (pages of 1,000: 17 ms, and the whole read was faster)."""
        memories: list[Memory] = []
        pages: list[np.ndarray] = []
        multilingual: dict[str, np.ndarray] = {}
        shard = shard_of(user_id, self._shards)
        while True:
            result = self._call(
                shard,
                "get",
                where={"user_id": user_id},
                include=["documents", "metadatas", "embeddings"],
                limit=LOAD_PAGE,
                offset=len(memories),
            )
            for memory_id, text, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            ):
                memories.append(from_row(memory_id, text or "", metadata or {}))
                vector = vector_of(metadata or {})
                if vector is not None:
                    multilingual[memory_id] = vector
            embeddings = result["embeddings"]
            if embeddings is not None and len(embeddings):
                pages.append(np.asarray(embeddings, dtype=np.float32))
            if len(result["ids"]) < LOAD_PAGE:
                break
        vectors = np.concatenate(pages) if pages else np.zeros((0, 0), dtype=np.float32)
        return memories, vectors, multilingual

    def get(self, ids: Sequence[str]) -> list[Memory]:
        """Memories by id, whoever they belong to (an id does not name its shard: every shard is
        asked; management calls only, never on a chat's path)."""
        if not ids:
            return []
        found: list[Memory] = []
        for shard in self._existing_shards():
            result = self._call(shard, "get", ids=list(ids), include=["documents", "metadatas"])
            found += [
                from_row(memory_id, text or "", metadata or {})
                for memory_id, text, metadata in zip(
                    result["ids"], result["documents"], result["metadatas"], strict=True
                )
            ]
        return found

    def expired_ids(self, now: datetime, limit: int = 1000) -> list[tuple[str, str]]:
        """(id, user_id) of memories whose expiry has passed."""
        expired: list[tuple[str, str]] = []
        for shard in self._existing_shards():
            result = self._call(
                shard,
                "get",
                where={
                    "$and": [
                        {"expires_at": {"$gt": 0.0}},
                        {"expires_at": {"$lte": now.timestamp()}},
                    ]
                },
                include=["metadatas"],
                limit=limit - len(expired),
            )
            expired += [
                (memory_id, str((metadata or {}).get("user_id", "")))
                for memory_id, metadata in zip(result["ids"], result["metadatas"], strict=True)
            ]
            if len(expired) >= limit:
                break
        return expired

    def scan(self, batch: int = 1000) -> Iterator[list[Memory]]:
        """Every memory of every user, in pages (export, stats)."""
        for page in self._rows(batch):
            yield [from_row(*row) for row in page]

    def _rows(self, batch: int) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
        """Every row of every shard as (id, text, metadata), in pages."""
        for shard in self._existing_shards():
            offset = 0
            while True:
                result = self._call(
                    shard, "get", include=["documents", "metadatas"], limit=batch, offset=offset
                )
                if not result["ids"]:
                    break
                offset += len(result["ids"])
                yield [
                    (memory_id, text or "", metadata or {})
                    for memory_id, text, metadata in zip(
                        result["ids"], result["documents"], result["metadatas"], strict=True
                    )
                ]

    def warm_shards(self) -> int:
        """Touch every shard: chromadb loads a collection's segments on its first read (tens of
        ms each at 100k memories), which would otherwise land on some user's first request."""
        shards = self._existing_shards()
        for shard in shards:
            self._call(shard, "get", where={"user_id": "\x00warm-up"}, include=[])
        return len(shards)

    def collection_of(self, user_id: str) -> Any | None:
        """The chromadb collection that holds the user's rows (None before the shard's first
        write), for tools that query chromadb directly: bench/scale.py times chromadb's own
        filtered query against the in-process index."""
        return self._collection(shard_of(user_id, self._shards), create=False)

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        if ids:
            self._call(shard_of(user_id, self._shards), "delete", ids=list(ids))

    def present(self) -> bool:
        """Whether the embedded store's files are where they were (a cheap stat, for /healthz;
        a Chroma server is checked by the calls themselves)."""
        return self._files is None or (self._files / "chroma.sqlite3").is_file()

    def compact(self, erased_ids: Sequence[str]) -> bool:
        """Take erased text out of the embedded store's files (proxy/memory/storage/compaction.py).
        False for a Chroma server: its files are the server's to compact."""
        if self._files is None:
            return False
        try:
            compact_chroma(self._files, erased_ids)
        except sqlite3.Error as exc:
            raise MemoryUnavailable(f"compacting the memory store failed: {exc}") from exc
        return True

    def count(self) -> int:
        return sum(int(self._call(shard, "count")) for shard in self._existing_shards())

    # --- versions of the row format (proxy/memory/storage/migrations.py) -------------------

    def schema_version(self) -> int | None:
        """The row format the store is at; None for a store that never recorded one."""
        return self._reopening("schema read", self._read_schema_version)

    def _read_schema_version(self) -> int | None:
        from chromadb.errors import NotFoundError

        try:
            meta = self._live_client().get_collection(META_COLLECTION)
        except NotFoundError:
            return None
        found = meta.get(ids=["schema"], include=["metadatas"])
        if not found["ids"]:
            return None
        return int((found["metadatas"][0] or {}).get("version", 0))

    def set_schema_version(self, version: int) -> None:
        def write() -> None:
            meta = self._live_client().get_or_create_collection(
                META_COLLECTION, embedding_function=None
            )
            meta.upsert(
                ids=["schema"],
                embeddings=[[0.0]],
                documents=["row format of memory-proxy"],
                metadatas=[{"version": version}],
            )

        self._reopening("schema write", write)

    def rows_lacking(self, key: str, batch: int = 1000) -> Iterator[list[Memory]]:
        """Pages of the rows whose metadata has no `key` (written by an earlier version)."""
        for page in self._rows(batch):
            lacking = [from_row(*row) for row in page if key not in row[2]]
            if lacking:
                yield lacking

    def rewrite_metadata(self, memories: Sequence[Memory]) -> None:
        """Store the memories' metadata as it is now, vectors and texts untouched."""
        by_shard: dict[int, list[Memory]] = defaultdict(list)
        for memory in memories:
            by_shard[shard_of(memory.scope.user_id, self._shards)].append(memory)
        for shard, rows in by_shard.items():
            self._call(
                shard,
                "update",
                ids=[m.id for m in rows],
                metadatas=[to_metadata(m) for m in rows],
            )
