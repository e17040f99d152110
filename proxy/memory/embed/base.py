"""The embedding protocol every model implements, and the factory that picks one by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from proxy.core.routing import CallTarget

__all__ = ["Embedder", "TextKind", "create_embedder"]

TextKind = Literal["query", "passage"]


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text. Blocking: call from a thread."""
        ...


def create_embedder(
    name: str, threads: int = 2, target: CallTarget | None = None, label: str | None = None
) -> Embedder:
    """`target`: where a remote (litellm) embedder calls; `label`: its name in the store (the
    model as configured, so that where it is served from can change without a new store)."""
    if name == "minilm":
        from proxy.memory.embed.minilm import MiniLMEmbedder

        return MiniLMEmbedder(threads=threads)
    if name == "litellm":
        from proxy.memory.embed.remote import LiteLLMEmbedder

        if target is None:
            raise ValueError(
                "embedder 'litellm' needs embedding_model (e.g. text-embedding-3-small)"
            )
        return LiteLLMEmbedder(target, label=label)
    raise ValueError(f"unknown embedder: {name}")
