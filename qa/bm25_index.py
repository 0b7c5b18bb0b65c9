"""The keyword index: BM25 over stemmed terms, with bm25s. The only module that touches bm25s."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np


class BM25Index:
    """``KeywordIndex`` over one list of term lists (one per row)."""

    def __init__(self, rows: Sequence[Sequence[str]]):
        self._n = len(rows)
        self._bm25 = bm25s.BM25()
        self._bm25.index([list(r) for r in rows], show_progress=False)
        self._vocab = set(self._bm25.vocab_dict)
        df = Counter(t for r in rows for t in set(r))
        n = max(self._n, 1)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)  # a term no row holds: as rare as can be

    def __len__(self) -> int:
        return self._n

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        known = [t for t in query_terms if t in self._vocab]
        if not known or not self._n:
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)
