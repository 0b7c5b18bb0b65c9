"""The vector index on one machine: FAISS, exact inner product, vectors addressed by id.

The only module that touches FAISS types. Vectors are normalised, so inner
product is cosine similarity. The FAISS index is a plain flat one whose rows
are the vectors in insertion order; the id of each row is kept beside it (in
``<file>.ids.npy`` when ids are not simply the row numbers, as they are in
every build the store writes). FAISS's ``IndexIDMap`` would do the same, but
its search costs milliseconds of thread start-up on a small index, so the
mapping is ours. Scoring given ids reads FAISS's storage in place: no second
copy of the vectors is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np


class FaissIndex:
    """``VectorIndex`` over a FAISS flat inner-product index."""

    def __init__(self, dimension: int, index: faiss.Index | None = None, ids: np.ndarray | None = None):
        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexFlatIP(dimension)
        self._ids = None if ids is None else np.asarray(ids, dtype=np.int64)  # None: ids are row numbers
        self._sync()

    @classmethod
    def load(cls, path: Path | str) -> FaissIndex:
        path = Path(path)
        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexFlatIP):
            raise ValueError(f"{path} holds a {type(index).__name__}, not a flat inner-product index")
        ids_file = _ids_file(path)
        ids = np.load(ids_file, allow_pickle=False) if ids_file.exists() else None
        if ids is not None and len(ids) != index.ntotal:
            raise ValueError(f"{ids_file} does not match {path}")
        return cls(index.d, index, ids)

    def save(self, path: Path | str) -> None:
        path = Path(path)
        faiss.write_index(self._index, str(path))
        if self._ids is not None:
            np.save(_ids_file(path), self._ids, allow_pickle=False)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        if len(set(ids.tolist())) != len(ids) or any(self._has(int(i)) for i in ids):
            raise ValueError("ids must be new and distinct")
        before = self._all_ids()
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._ids = np.concatenate([before, ids])
        self._sync()

    def remove(self, ids: np.ndarray) -> None:
        rows = np.array([self._row(int(i)) for i in ids if self._has(int(i))], dtype=np.int64)
        if not len(rows):
            return
        kept = np.delete(self._all_ids(), rows)
        self._index.remove_ids(faiss.IDSelectorBatch(rows))
        self._ids = kept
        self._sync()

    def search(
        self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = None
        if allowed_ids is not None:
            rows = np.array([self._row(int(i)) for i in allowed_ids], dtype=np.int64)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
        scores, found = self._index.search(np.asarray(vector, dtype=np.float32)[None, :], k, params=params)
        keep = found[0] >= 0
        rows = found[0][keep]
        return (rows if self._ids is None else self._ids[rows]), scores[0][keep]

    def similarity(self, vector: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        return self.vectors(ids) @ np.asarray(vector, dtype=np.float32)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        rows = list(ids) if self._row_of is None else [self._row_of[int(i)] for i in ids]
        return self._storage[rows]

    def _has(self, i: int) -> bool:
        return 0 <= i < len(self) if self._row_of is None else i in self._row_of

    def _row(self, i: int) -> int:
        if not self._has(i):
            raise KeyError(f"no vector with id {i}")
        return i if self._row_of is None else self._row_of[i]

    def _all_ids(self) -> np.ndarray:
        return np.arange(len(self), dtype=np.int64) if self._ids is None else self._ids

    def _sync(self) -> None:
        """Point at the flat storage in place; map ids to rows only when they are not the rows."""
        n = int(self._index.ntotal)
        if n:
            self._storage = faiss.rev_swig_ptr(self._index.get_xb(), n * self.dimension).reshape(n, self.dimension)
        else:
            self._storage = np.zeros((0, self.dimension), dtype=np.float32)
        if self._ids is not None and np.array_equal(self._ids, np.arange(n)):
            self._ids = None
        self._row_of = None if self._ids is None else {int(i): row for row, i in enumerate(self._ids)}


def _ids_file(path: Path) -> Path:
    return path.with_name(path.name + ".ids.npy")
