"""Keyword search: BM25 over one user's memories, with CJK text split into bigrams (pure).

Chinese and Japanese have no spaces between words; overlapping character bigrams are the
standard way to index them without a segmenter ("中文回答" -> 中文 文回 回答).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

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
    """An incremental BM25 index over documents numbered by the caller."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[int, int]] = defaultdict(dict)
        self._lengths: dict[int, int] = {}
        self._total_length = 0

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, doc: int, tokens: Iterable[str]) -> None:
        if doc in self._lengths:
            self.remove(doc)
        counts = Counter(tokens)
        for term, tf in counts.items():
            self._postings[term][doc] = tf
        length = sum(counts.values())
        self._lengths[doc] = length
        self._total_length += length

    def remove(self, doc: int) -> None:
        length = self._lengths.pop(doc, None)
        if length is None:
            return
        self._total_length -= length
        for term in [t for t, docs in self._postings.items() if doc in docs]:
            del self._postings[term][doc]
            if not self._postings[term]:
                del self._postings[term]

    def idf(self, term: str) -> float:
        df = len(self._postings.get(term, ()))
        n = len(self._lengths)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(
        self, query_tokens: Iterable[str], allowed: set[int] | None = None, limit: int = 50
    ) -> list[tuple[int, float, float]]:
        """(doc, bm25 score, share of the query's idf weight matched), best first."""
        terms = set(query_tokens)
        if not terms or not self._lengths:
            return []
        avg_length = self._total_length / len(self._lengths) or 1.0
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, float] = defaultdict(float)
        idfs = {term: self.idf(term) for term in terms}
        total_idf = sum(idfs.values()) or 1.0
        for term in terms:
            idf = idfs[term]
            for doc, tf in self._postings.get(term, {}).items():
                if allowed is not None and doc not in allowed:
                    continue
                norm = self.k1 * (1 - self.b + self.b * self._lengths[doc] / avg_length)
                scores[doc] += idf * tf * (self.k1 + 1) / (tf + norm)
                matched[doc] += idf
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [(doc, score, matched[doc] / total_idf) for doc, score in ranked]
