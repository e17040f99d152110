"""Query embeddings on the request path: cached by text, concurrent ones sharing a model run."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from threading import Lock

import numpy as np

from proxy.memory.embed.batcher import MicroBatcher

__all__ = ["QueryEmbeddings"]


class QueryEmbeddings:
    def __init__(self, run: Callable[[Sequence[str]], np.ndarray], cache_size: int = 2048) -> None:
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()
        self.batcher = MicroBatcher(run)

    def embed(self, text: str) -> np.ndarray:
        # Clients resend the same last turn on retries and regenerations: skip the model then.
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self.batcher.embed(text)  # shares a model run with concurrent queries
        with self._lock:
            self._cache[text] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector
