"""A store written before tiers existed gets them on open, once, without re-embedding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from proxy.memory.storage.chroma import PREFIX, shard_of
from proxy.memory.storage.migrations import ROW_FORMAT
from tests.conftest import ProxyFactory, wait_until

OLD_ROWS = [  # (id, text, kind) as the previous version stored them
    ("m1", "I prefer short answers.", "preference"),
    ("m2", "I'm allergic to peanuts.", "constraint"),
    ("m3", "I live in Lisbon.", "fact"),
    ("m4", "I went to the dentist on Monday.", "event"),
]


def _old_store(data_dir: Path, dim: int) -> list[list[float]]:
    """Rows written with the previous version's metadata (no tier, no attribute)."""
    client = chromadb.PersistentClient(
        path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection(
        f"{PREFIX}{shard_of('old'):02d}",
        embedding_function=None,
        metadata={"hnsw:space": "cosine", "embedder": "all-MiniLM-L6-v2-int8"},
    )
    when = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    vectors = np.random.default_rng(1).normal(size=(len(OLD_ROWS), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    collection.upsert(
        ids=[row[0] for row in OLD_ROWS],
        documents=[row[1] for row in OLD_ROWS],
        embeddings=vectors,
        metadatas=[
            {
                "user_id": "old",
                "session_id": "",
                "agent_id": "",
                "created_at": when,
                "occurred_at": when,
                "updated_at": when,
                "kind": kind,
                "source": "",
                "status": "active",
                "superseded_by": "",
                "expires_at": 0.0,
            }
            for _, _, kind in OLD_ROWS
        ],
    )
    return vectors.tolist()


def test_an_old_store_gets_tiers_once_and_keeps_its_vectors(
    make_proxy: ProxyFactory, tmp_path: Path, embedder
) -> None:
    data_dir = tmp_path / "old-store"
    vectors = _old_store(data_dir, embedder.dim)
    proxy = make_proxy(data_dir=data_dir)
    wait_until(lambda: proxy.http.get("/healthz").json()["memory"]["row_format"] == ROW_FORMAT)
    tiers = {m["id"]: m["tier"] for m in proxy.memories("old")}
    assert tiers == {"m1": "profile", "m2": "profile", "m3": "profile", "m4": "episodic"}
    profile = proxy.http.get("/memories/profile", params={"user_id": "old"}).json()
    assert [m["id"] for m in profile["data"]] == ["m1", "m2", "m3"]
    client = chromadb.PersistentClient(
        path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    rows = client.get_collection(f"{PREFIX}{shard_of('old'):02d}").get(
        ids=["m1", "m4"], include=["metadatas", "embeddings"]
    )
    by_id = dict(zip(rows["ids"], rows["metadatas"], strict=True))
    assert by_id["m1"]["tier"] == "profile" and by_id["m4"]["tier"] == "episodic"
    assert by_id["m1"]["attribute"] == "answer_length"
    stored = dict(zip(rows["ids"], rows["embeddings"], strict=True))
    assert np.allclose(stored["m1"], vectors[0], atol=1e-6)  # not re-embedded
