"""Keyword search: BM25 over one user's memories, with CJK text split into bigrams (pure).

Chinese and Japanese have no spaces between words; overlapping character bigrams are the
standard way to index them without a segmenter ("中文回答" -> 中文 文回 回答).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

__all__ = ["CJK_STOPWORDS", "STOPWORDS", "Bm25Index", "tokenize"]

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")

# Function words carry no topic; matching on them would make every memory "relevant".
STOPWORDS = frozenset(
    (
        "a about after again all also am an and any are as at be been before being but by can "
        "could did do does doing don't down during each few for from further had has have having "
        "he her here hers herself him himself his how i i'm i've if in into is it its itself just "
        "let's me more most my myself no nor not now of off on once only or other our ours "
        "ourselves out over own same she should so some such than that that's the their theirs "
        "them themselves then there these they this those through to too under until up very was "
        "we were what when where which while who whom why will with would you your yours yourself "
        "yourselves really like just got get go going went yeah yes oh hey hi so well know think "
        "thing things something lot lots much many one ones way s t d ll m re ve "
    ).split()
)
CJK_STOPWORDS = frozenset({"我的", "你的", "是的", "一个", "这个", "那个", "什么", "我们", "你们"})


def _normalise(word: str) -> str:
    # A light plural fold ("hikes" ~ "hike"): full stemming costs precision for little recall.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        run = match.group()
        if _IS_CJK.match(run):
            if len(run) == 1:
                tokens.append(run)
            else:
                tokens.extend(
                    bigram
                    for bigram in (run[i : i + 2] for i in range(len(run) - 1))
                    if bigram not in CJK_STOPWORDS
                )
        elif run not in STOPWORDS and not (len(run) == 1 and run.isascii()):
            tokens.append(_normalise(run))
    return tokens


class Bm25Index:
    """An incremental BM25 index over documents numbered by the caller (small ints, reused rows).

    Postings are kept as dicts for cheap updates and turned into numpy arrays per term on first
    use after a change, so a query over thousands of documents is a few vector operations."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[int, int]] = defaultdict(dict)
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._doc_terms: dict[int, tuple[str, ...]] = {}
        self._lengths = np.zeros(16, dtype=np.float32)
        self._total_length = 0

    def __len__(self) -> int:
        return len(self._doc_terms)

    def add(self, doc: int, tokens: Iterable[str]) -> None:
        if doc in self._doc_terms:
            self.remove(doc)
        counts = Counter(tokens)
        for term, tf in counts.items():
            self._postings[term][doc] = tf
            self._arrays.pop(term, None)
        self._doc_terms[doc] = tuple(counts)
        while doc >= len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
        length = sum(counts.values())
        self._lengths[doc] = length
        self._total_length += length

    def remove(self, doc: int) -> None:
        terms = self._doc_terms.pop(doc, None)
        if terms is None:
            return
        self._total_length -= int(self._lengths[doc])
        self._lengths[doc] = 0
        for term in terms:
            postings = self._postings[term]
            postings.pop(doc, None)
            self._arrays.pop(term, None)
            if not postings:
                del self._postings[term]

    def idf(self, term: str) -> float:
        df = len(self._postings.get(term, ()))
        n = len(self._doc_terms)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _array(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self._arrays.get(term)
        if cached is None:
            postings = self._postings[term]
            cached = (
                np.fromiter(postings.keys(), dtype=np.int64, count=len(postings)),
                np.fromiter(postings.values(), dtype=np.float32, count=len(postings)),
            )
            self._arrays[term] = cached
        return cached

    def search(
        self,
        query_tokens: Iterable[str],
        allowed: set[int] | np.ndarray | None = None,
        limit: int = 50,
    ) -> list[tuple[int, float, float]]:
        """(doc, bm25 score, share of the query's idf weight matched), best first. `allowed` is
        a set of docs or a boolean mask over doc numbers."""
        terms = {term for term in query_tokens if term in self._postings}
        if not terms or not self._doc_terms:
            return []
        idfs = {term: self.idf(term) for term in set(query_tokens)}
        total_idf = sum(idfs.values()) or 1.0
        avg_length = self._total_length / len(self._doc_terms) or 1.0
        scores = np.zeros(len(self._lengths), dtype=np.float32)
        matched = np.zeros(len(self._lengths), dtype=np.float32)
        for term in terms:
            docs, tfs = self._array(term)
            norm = self.k1 * (1 - self.b + self.b * self._lengths[docs] / avg_length)
            scores[docs] += idfs[term] * tfs * (self.k1 + 1) / (tfs + norm)
            matched[docs] += idfs[term]
        if allowed is not None:
            mask = _mask(allowed, len(scores))
            scores[~mask] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > limit:
            hits = hits[np.argpartition(-scores[hits], limit - 1)[:limit]]
        hits = hits[np.argsort(-scores[hits], kind="stable")]
        return [(int(d), float(scores[d]), float(matched[d] / total_idf)) for d in hits]


def _mask(allowed: set[int] | np.ndarray, size: int) -> np.ndarray:
    if isinstance(allowed, np.ndarray):
        mask = np.zeros(size, dtype=bool)
        mask[: min(size, len(allowed))] = allowed[:size]
        return mask
    mask = np.zeros(size, dtype=bool)
    rows = [row for row in allowed if row < size]
    mask[rows] = True
    return mask
