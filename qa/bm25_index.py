"""The keyword index: BM25 over stemmed terms, with bm25s. The only module that touches bm25s.

A build saves it with bm25s' own format (NumPy arrays and JSON, ``allow_pickle=False``) plus
the document frequencies as JSON, so loading an index reads it instead of re-indexing every passage.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

FREQUENCIES = "frequencies.json"  # rows and per-term document frequencies, beside bm25s' files


class BM25Index:
    """``KeywordIndex`` over one list of term lists (one per row)."""

    def __init__(self, rows: Sequence[Sequence[str]] | None = None, *, _loaded=None):
        if _loaded is not None:
            self._bm25, self._n, df = _loaded
        else:
            rows = rows or []
            self._n = len(rows)
            self._bm25 = bm25s.BM25()
            self._bm25.index([list(r) for r in rows], show_progress=False)
            df = Counter(t for r in rows for t in set(r))
        self._df = dict(df)
        self._vocab = set(self._bm25.vocab_dict)
        n = max(self._n, 1)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in self._df.items()}
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)  # a term no row holds: as rare as can be

    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder), allow_pickle=False, show_progress=False)
        (folder / FREQUENCIES).write_text(json.dumps({"rows": self._n, "df": self._df}, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path | str, rows: int) -> BM25Index:
        """The index saved in ``folder``; ``ValueError`` when it is missing, garbled or not of ``rows`` rows."""
        folder = Path(folder)
        try:
            saved = json.loads((folder / FREQUENCIES).read_text(encoding="utf-8"))
            n, df = saved["rows"], saved["df"]
            if not isinstance(n, int) or not isinstance(df, dict):
                raise ValueError("wrong types")
            bm25 = bm25s.BM25.load(str(folder), allow_pickle=False, show_progress=False, mmap=True)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved keyword index ({type(exc).__name__})") from None
        if n != rows or (rows and bm25.scores["num_docs"] != rows):
            raise ValueError(f"{n} rows where the build has {rows}")
        return cls(_loaded=(bm25, n, df))

    def __len__(self) -> int:
        return self._n

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        known = [t for t in query_terms if t in self._vocab]
        if not known or not self._n:
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)
