"""Remote embeddings through litellm (any provider it knows), imported lazily."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from proxy.core.errors import MemoryUnavailable
from proxy.core.routing import CallTarget
from proxy.llm import litellm
from proxy.memory.embed.base import TextKind

__all__ = ["LiteLLMEmbedder"]


class LiteLLMEmbedder:
    """Remote embeddings through litellm (text-embedding-3-small, any provider it knows).
    Each query costs a network round trip: expect tens of milliseconds, not the 3 ms of MiniLM."""

    def __init__(
        self, target: CallTarget, timeout_s: float = 10.0, label: str | None = None
    ) -> None:
        self.name = f"litellm:{label or target.model}"
        self._target = target
        self._timeout_s = timeout_s
        self.dim = len(self._run(["dimension probe"])[0])

    def embed(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(texts)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        try:
            response = litellm().embedding(
                **self._target.params,
                model=self._target.model,
                input=list(texts),
                api_key=self._target.api_key,
                api_base=self._target.api_base,
                timeout=self._timeout_s,
            )
        except Exception as exc:  # provider-specific types; all mean the service is unavailable
            raise MemoryUnavailable(f"remote embedding failed: {type(exc).__name__}") from exc
        vectors = np.array([item["embedding"] for item in response.data], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)
