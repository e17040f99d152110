"""Concurrent query embeddings share model runs and get the vectors they would get alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from proxy.memory.embed.batcher import MicroBatcher
from proxy.memory.embed.minilm import MiniLMEmbedder

QUERIES = [f"Which cities did I visit in {1990 + i} with my family?" for i in range(48)]


def test_concurrent_queries_share_runs_and_match_single_runs(embedder: MiniLMEmbedder) -> None:
    started = threading.Barrier(16)
    batcher = MicroBatcher(embedder._run)

    def one(text: str) -> np.ndarray:
        if text in QUERIES[:16]:
            started.wait()  # the first 16 arrive together
        return batcher.embed(text)

    with ThreadPoolExecutor(16) as pool:
        vectors = list(pool.map(one, QUERIES))
    alone = embedder._run(QUERIES)
    for text, vector, single in zip(QUERIES, vectors, alone, strict=True):
        assert np.allclose(vector, embedder._run([text])[0], atol=1e-5), text
        assert np.allclose(vector, single, atol=1e-5)
    assert batcher.runs < len(QUERIES) / 2  # shared runs, not one per query


def test_a_lone_query_runs_at_once() -> None:
    seen: list[list[str]] = []

    def run(texts: Sequence[str]) -> np.ndarray:
        seen.append(list(texts))
        return np.ones((len(texts), 2), dtype=np.float32)

    batcher = MicroBatcher(run)
    assert batcher.embed("a").tolist() == [1.0, 1.0]
    assert batcher.embed("b").tolist() == [1.0, 1.0]
    assert seen == [["a"], ["b"]]


def test_a_failed_run_fails_every_caller_of_its_batch_and_not_the_next() -> None:
    gate = threading.Event()
    calls = 0

    def run(texts: Sequence[str]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            gate.wait(5)  # the first run holds while the others queue
            return np.zeros((len(texts), 2), dtype=np.float32)
        if calls == 2:
            raise RuntimeError("model failed")
        return np.ones((len(texts), 2), dtype=np.float32)

    batcher = MicroBatcher(run)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.embed, "first")
        queued = [pool.submit(batcher.embed, t) for t in ("x", "y", "z")]
        while batcher.queued() < 3:  # x, y and z wait behind the held first run
            threading.Event().wait(0.001)
        gate.set()
        assert first.result().tolist() == [0.0, 0.0]
        for future in queued:
            with pytest.raises(RuntimeError, match="model failed"):
                future.result()
    assert batcher.embed("after").tolist() == [1.0, 1.0]
    assert calls == 3  # x, y and z shared the second run
