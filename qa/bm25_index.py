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


class Frequencies:
    """How many rows hold each term, saved as JSON: the IDF the answer scorers read, whichever engine
    (bm25s here, Milvus's own BM25 in ``qa.milvus_index``) scores the keywords."""

    def __init__(self, rows: int, df: dict[str, int]):
        self.rows, self.df = rows, df
        n = max(rows, 1)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)  # a term no row holds: as rare as can be

    @classmethod
    def of(cls, rows: Sequence[Sequence[str]]) -> Frequencies:
        return cls(len(rows), dict(Counter(t for r in rows for t in set(r))))

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"rows": self.rows, "df": self.df}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, rows: int) -> Frequencies:
        """``ValueError`` when the file is missing, garbled or not of ``rows`` rows."""
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            n, df = saved["rows"], saved["df"]
            if not isinstance(n, int) or not isinstance(df, dict):
                raise ValueError("wrong types")
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved keyword index ({type(exc).__name__})") from None
        if n != rows:
            raise ValueError(f"{n} rows where the build has {rows}")
        return cls(n, df)


class BM25Index:
    """``KeywordIndex`` over one list of term lists (one per row)."""

    def __init__(self, rows: Sequence[Sequence[str]] | None = None, *, _loaded=None):
        if _loaded is not None:
            self._bm25, self._frequencies = _loaded
        else:
            rows = rows or []
            self._bm25 = bm25s.BM25()
            self._bm25.index([list(r) for r in rows], show_progress=False)
            self._frequencies = Frequencies.of(rows)
        self._n = self._frequencies.rows
        self._vocab = set(self._bm25.vocab_dict)
        self._last: tuple[tuple[str, ...], np.ndarray] | None = None

    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder), allow_pickle=False, show_progress=False)
        self._frequencies.save(folder / FREQUENCIES)

    @classmethod
    def load(cls, folder: Path | str, rows: int) -> BM25Index:
        """The index saved in ``folder``; ``ValueError`` when it is missing, garbled or not of ``rows`` rows."""
        folder = Path(folder)
        frequencies = Frequencies.load(folder / FREQUENCIES, rows)
        try:
            bm25 = bm25s.BM25.load(str(folder), allow_pickle=False, show_progress=False, mmap=True)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved keyword index ({type(exc).__name__})") from None
        if rows and bm25.scores["num_docs"] != rows:
            raise ValueError(f"{bm25.scores['num_docs']} rows where the build has {rows}")
        return cls(_loaded=(bm25, frequencies))

    def __len__(self) -> int:
        return self._n

    def search(
        self, query_terms: Sequence[str], k: int, allowed_ids: np.ndarray | None = None, where=None
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = self._scores(query_terms)
        if allowed_ids is not None:
            keep = np.zeros(self._n, dtype=bool)
            keep[allowed_ids] = True
            scores = np.where(keep, scores, 0.0)
        k = min(k, self._n)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < self._n else np.arange(self._n)
        top = top[scores[top] > 0]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top]

    def scores_of(self, query_terms: Sequence[str], ids: np.ndarray) -> np.ndarray:
        return self._scores(query_terms)[np.asarray(ids, dtype=np.int64)]

    def _scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """Every row's score; the last query's are kept, as ``search`` and ``scores_of`` ask in turn."""
        known = tuple(t for t in query_terms if t in self._vocab)
        last = self._last
        if last is not None and last[0] == known:
            return last[1]
        if not known or not self._n:
            scores = np.zeros(self._n, dtype=np.float32)
        else:
            scores = np.asarray(self._bm25.get_scores(list(known)), dtype=np.float32)
        self._last = (known, scores)  # one assignment: threads see the old pair or the new one
        return scores

    def idf(self, term: str) -> float:
        return self._frequencies.idf(term)
