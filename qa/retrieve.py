"""Retrieval: dense (a vector index), keyword (a keyword index) and their fusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from qa.errors import QuestionError
from qa.records import Chunk, Filter, Hit
from qa.stages import KeywordIndex, VectorIndex
from qa.text import terms

MODES = ("hybrid", "dense", "keyword")
HYBRID_ALPHA = 0.5  # dense and keyword scores count alike in hybrid fusion (min-max and max normalised)
POOL_MIN = 50  # candidates each retriever contributes before fusion, at least...
POOL_PER_K = 4  # ...or this many per passage asked for


class Retriever:
    """Ranks the chunks of one index for a query: dense, keyword, or both fused.

    It is handed its stages (a ``VectorIndex`` of the chunks and a ``KeywordIndex`` of
    their texts, both addressed by row) and the chunk records; it encodes nothing
    itself: the pipeline passes the query's vector in.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        dates: Mapping[str, str | None],
        vectors: VectorIndex,
        keywords: KeywordIndex,
        alpha: float = HYBRID_ALPHA,
    ):
        self.chunks = chunks
        self.dates = dates  # document id -> date, for date filters
        self.vectors = vectors
        self.keywords = keywords
        self.alpha = alpha  # weight of the dense score in hybrid fusion

    def search(
        self, query: str, query_vector: np.ndarray | None, k: int = 5, mode: str = "hybrid", where: Filter | None = None
    ) -> list[Hit]:
        """The ``k`` best chunks; ``query_vector`` is needed unless ``mode`` is keyword."""
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        n = len(self.chunks)
        if n == 0 or k <= 0:
            return []
        allowed = self._allowed(where)
        if allowed is None:
            where = None
        elif not len(allowed):
            return []
        pool = min(n, max(POOL_MIN, POOL_PER_K * k))
        cands: set[int] = set()
        dense = keyword = None
        if mode in ("hybrid", "dense"):
            if query_vector is None:
                raise ValueError("dense and hybrid retrieval need the query's vector")
            ids, _ = self.vectors.search(query_vector, pool, allowed, where)
            cands.update(int(i) for i in ids)
            dense = query_vector
        if mode in ("hybrid", "keyword"):
            keyword = terms(query)
            ids, _ = self.keywords.search(keyword, pool, allowed, where)
            cands.update(int(i) for i in ids)
        if allowed is not None:
            cands &= set(int(i) for i in allowed)
        if not cands:
            return []
        rows = np.fromiter(cands, dtype=np.int64)
        d_scores = self.vectors.similarity(dense, rows) if dense is not None else None
        k_scores = np.maximum(self.keywords.scores_of(keyword, rows), 0) if keyword is not None else None
        if mode == "dense":
            fused = d_scores
        elif mode == "keyword":
            fused = k_scores
        else:
            fused = self.alpha * _minmax(d_scores) + (1 - self.alpha) * _scale(k_scores)
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Hit(
                chunk=self.chunks[int(rows[i])],
                score=float(fused[i]),
                dense=None if d_scores is None else float(d_scores[i]),
                keyword=None if k_scores is None else float(k_scores[i]),
            )
            for i in order
        ]

    def _allowed(self, where: Filter | None) -> np.ndarray | None:
        if where is None or not where.active:
            return None
        return np.array(
            [i for i, c in enumerate(self.chunks) if where.allows(c.doc, self.dates.get(c.doc))], dtype=np.int64
        )


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _scale(x: np.ndarray) -> np.ndarray:
    hi = float(x.max())
    return x / hi if hi > 0 else np.zeros_like(x)
