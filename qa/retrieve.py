"""Retrieval: dense (FAISS), keyword (BM25) and their fusion."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import bm25s
import faiss
import numpy as np

from qa.chunking import embedding_text
from qa.embed import Embedder
from qa.records import Hit
from qa.store import IndexData
from qa.text import normalize, terms

MODES = ("hybrid", "dense", "keyword")


@dataclass(frozen=True)
class Filter:
    """Restrict retrieval to some documents and/or a date range (ISO strings, inclusive)."""

    docs: frozenset[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    def allows(self, doc: str, date: str | None) -> bool:
        if self.docs is not None and doc not in self.docs:
            return False
        if self.date_from or self.date_to:
            if not date:
                return False
            if self.date_from and date[:len(self.date_from)] < self.date_from:
                return False
            if self.date_to and date[:len(self.date_to)] > self.date_to:
                return False
        return True

    @property
    def active(self) -> bool:
        return self.docs is not None or bool(self.date_from or self.date_to)


class Retriever:
    """Ranks the chunks of one loaded index for a query."""

    def __init__(self, data: IndexData, embedder: Embedder, alpha: float = 0.5):
        self.data = data
        self.embedder = embedder
        self.alpha = alpha  # weight of the dense score in hybrid fusion
        chunk_terms = [terms(embedding_text(data.documents[c.doc].title, c.text)) for c in data.chunks]
        self._bm25 = bm25s.BM25()
        self._bm25.index(chunk_terms, show_progress=False)
        self._vocab = set(self._bm25.vocab_dict)
        df = Counter(t for ts in chunk_terms for t in set(ts))
        n = max(len(chunk_terms), 1)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.default_idf = math.log(1 + (n + 0.5) / 0.5)

    def encode_query(self, query: str) -> np.ndarray:
        return self.embedder.encode([normalize(query)])[0]

    def keyword_scores(self, query: str) -> np.ndarray:
        q = [t for t in terms(query) if t in self._vocab]
        if not q or not self.data.chunks:
            return np.zeros(len(self.data.chunks), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(q), dtype=np.float32)

    def search(self, query: str, k: int = 5, mode: str = "hybrid", where: Filter | None = None,
               query_vector: np.ndarray | None = None) -> list[Hit]:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        n = len(self.data.chunks)
        if n == 0 or k <= 0:
            return []
        allowed = self._allowed(where)
        if allowed is not None and not len(allowed):
            return []
        pool = min(n, max(50, 4 * k))
        cands: set[int] = set()
        dense = keyword = None
        if mode in ("hybrid", "dense"):
            qv = self.encode_query(query) if query_vector is None else query_vector
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)) if allowed is not None else None
            _, ids = self.data.chunk_index.search(qv[None, :].astype(np.float32), pool, params=params)
            cands.update(int(i) for i in ids[0] if i >= 0)
            dense = qv
        if mode in ("hybrid", "keyword"):
            keyword = self.keyword_scores(query)
            if allowed is not None:
                mask = np.zeros(n, dtype=bool)
                mask[allowed] = True
                keyword = np.where(mask, keyword, -1.0)
            top = np.argpartition(-keyword, min(pool, n - 1))[:pool]
            cands.update(int(i) for i in top if keyword[i] > 0)
        if allowed is not None:
            cands &= set(int(i) for i in allowed)
        if not cands:
            return []
        rows = np.fromiter(cands, dtype=np.int64)
        d_scores = self.data.chunk_vectors[rows] @ dense if dense is not None else None
        k_scores = np.maximum(keyword[rows], 0) if keyword is not None else None
        if mode == "dense":
            fused = d_scores
        elif mode == "keyword":
            fused = k_scores
        else:
            fused = self.alpha * _minmax(d_scores) + (1 - self.alpha) * _scale(k_scores)
        order = np.argsort(-fused, kind="stable")[:k]
        return [Hit(chunk=self.data.chunks[int(rows[i])], score=float(fused[i]),
                    dense=None if d_scores is None else float(d_scores[i]),
                    keyword=None if k_scores is None else float(k_scores[i]))
                for i in order]

    def _allowed(self, where: Filter | None) -> np.ndarray | None:
        if where is None or not where.active:
            return None
        docs = self.data.documents
        return np.array([i for i, c in enumerate(self.data.chunks)
                         if where.allows(c.doc, docs[c.doc].date)], dtype=np.int64)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _scale(x: np.ndarray) -> np.ndarray:
    hi = float(x.max())
    return x / hi if hi > 0 else np.zeros_like(x)
