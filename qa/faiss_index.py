"""The vector index on one machine: FAISS, inner product, vectors addressed by id.

With ``qa/faiss_kinds.py``, the only module that touches FAISS types. Vectors
are normalised, so inner product is cosine similarity. ``FaissIndex.for_vectors``
picks the kind by size: up to ``FLAT_LIMIT`` vectors an exact ``flat`` index,
whose FAISS storage is the vectors; above it an approximate ``ivf<lists>-sq8``
one, with the full vectors beside it as float16 in ``<file>.vectors.npy``
(``EXACT_DTYPE``). Either way the vectors exist once, on disk and memory-mapped
after ``load``: ``vectors``, ``similarity`` and the re-scoring of approximate
candidates read them in place, so returned scores are those of full vectors
(float16's rounding aside), never of the 8-bit codes.

Rows are vectors in insertion order; the id of each row is kept beside it (in
``<file>.ids.npy`` when ids are not simply the row numbers, as they are in
every build the store writes). FAISS's ``IndexIDMap`` would do the same, but
its search costs milliseconds of thread start-up on a small index, so the
mapping is ours. No pickle: FAISS's own format and ``.npy`` files only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from qa import faiss_kinds

# Vectors up to which ``for_vectors`` builds an exact flat index: beyond it a flat search passes 10 ms p95, a
# sixth of a question's 60 ms p95 budget (about 20 ms of which is embedding the question). Measured by
# benchmarks/scale.py on 2 cores (one thread, 300 SQuAD questions, real MiniLM vectors): p95 1.8 ms at 25k,
# 4.9 ms at 50k, 9.0 ms at 100k, 11.1 ms at 150k, 14.6 ms at 200k, 22 ms at 300k, while IVF-SQ8 answers in
# under 1 ms at 100k with recall@10 0.98. Sentence indexes, a few times larger than chunk ones, pass it first.
FLAT_LIMIT = 100_000
# Allowed sets (document filters) up to this many ids are scored exactly, row by row, where IVF would probe
# few lists and miss the allowed rows outside them. Exact scoring took p95 4.4 ms for 5,000 ids of the mapped
# 100k real vectors (benchmarks/scale.py), so about 10 ms here; larger sets go through FAISS's IDSelector.
EXACT_ALLOWED = 10_000
# An approximate index keeps its exact vectors as float16: half the disk and page cache (768 MB at 1M vectors,
# beside 384 MB of SQ8 codes, under the 1.5 GB target even when every page is touched). Measured by
# benchmarks/scale.py over the 100k real vectors and 1,000 train-article questions: the exact top 10 by
# float16 vectors is the float32 one in 0.9999 of places (same order for 98.7% of questions), scores differ
# by at most 6e-5. Flat indexes, at most FLAT_LIMIT vectors, stay float32.
EXACT_DTYPE = np.float16
REFINE = 4  # approximate candidates re-scored exactly per result wanted (at least REFINE_MIN in all)
REFINE_MIN = 50


class FaissIndex:
    """``VectorIndex`` over a FAISS index: exact (``flat``) or approximate (``ivf<lists>-sq8``)."""

    def __init__(
        self,
        dimension: int,
        index: faiss.Index | None = None,
        ids: np.ndarray | None = None,
        vectors: np.ndarray | None = None,
    ):
        """``index`` is flat (its storage holds the vectors) or approximate over the rows of ``vectors``."""
        self.dimension = dimension
        self._index = index if index is not None else faiss_kinds.flat(dimension)
        self._exact = None if faiss_kinds.is_flat(self._index) else vectors
        if self._exact is None and not faiss_kinds.is_flat(self._index):
            raise ValueError("an approximate index needs its exact vectors")
        self._ids = None if ids is None else np.asarray(ids, dtype=np.int64)  # None: ids are row numbers
        self._mapped = False  # read-only pages of a file (``load``): copied into memory before a change
        self._sync()

    @classmethod
    def for_vectors(
        cls, vectors: np.ndarray, ids: np.ndarray | None = None, flat_limit: int | None = None
    ) -> FaissIndex:
        """An index of ``vectors`` (rows of ids ``ids``, or 0..n-1): flat up to ``flat_limit``, else IVF-SQ8."""
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(vectors) <= (FLAT_LIMIT if flat_limit is None else flat_limit):
            index = cls(vectors.shape[1])
            index.add(ids, vectors)
            return index
        _check_new(ids, np.zeros(0, dtype=np.int64))
        return cls(vectors.shape[1], faiss_kinds.ivf_sq8(vectors), ids, vectors.astype(EXACT_DTYPE))

    @property
    def kind(self) -> str:
        """``flat`` or ``ivf<lists>-sq8``: what the manifest records."""
        return faiss_kinds.name(self._index)

    @classmethod
    def load(cls, path: Path | str) -> FaissIndex:
        """The index saved at ``path``, memory-mapped; ``ValueError`` naming what is wrong otherwise."""
        path = Path(path)
        index = faiss_kinds.read(path)
        exact = None
        if not faiss_kinds.is_flat(index):
            exact = _read_npy(_vectors_file(path), (index.ntotal, index.d), (EXACT_DTYPE,))
        ids_file = _ids_file(path)
        ids = _read_npy(ids_file, (index.ntotal,), (np.int64,)) if ids_file.exists() else None
        if ids is not None and len(np.unique(ids)) != len(ids):
            raise ValueError(f"{ids_file} repeats ids")
        loaded = cls(index.d, index, ids, exact)
        loaded._mapped = True
        return loaded

    def save(self, path: Path | str) -> None:
        """Write ``path`` (and its ``.vectors.npy`` / ``.ids.npy`` when needed), each file replaced whole."""
        path = Path(path)
        _replace(path, lambda tmp: faiss.write_index(self._index, str(tmp)))
        for file, array in ((_vectors_file(path), self._exact), (_ids_file(path), self._ids)):
            if array is None:
                file.unlink(missing_ok=True)
            else:
                _replace(file, lambda tmp, a=array: _save_npy(tmp, a))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        _check_new(ids, self._all_ids())
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        before = self._all_ids()
        self._own()
        self._index.add(vectors)  # an IVF index labels them with the next row numbers
        if self._exact is not None:
            self._exact = np.concatenate([self._exact, vectors.astype(EXACT_DTYPE)])
        self._ids = np.concatenate([before, ids])
        self._sync()

    def remove(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        rows = self._rows(ids[self._has(ids)])
        if not len(rows):
            return
        kept = np.delete(self._all_ids(), rows)
        self._own()
        self._index.remove_ids(faiss.IDSelectorBatch(rows))
        if self._exact is not None:
            faiss_kinds.renumber(self._index, rows)
            self._exact = np.delete(self._exact, rows, axis=0)
        self._ids = kept
        self._sync()

    def search(
        self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, where=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """As ``VectorIndex.search``: the ids, not ``where``, say which rows are allowed."""
        k = min(k, len(self))
        query = np.asarray(vector, dtype=np.float32).reshape(1, self.dimension)
        selector = None
        if allowed_ids is not None:
            allowed = self._rows(np.asarray(allowed_ids, dtype=np.int64))
            if len(allowed) <= EXACT_ALLOWED:
                return self._best(query[0], np.unique(allowed), k)
            selector = faiss.IDSelectorBatch(allowed)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        want = k if self._exact is None else min(len(self), max(REFINE * k, REFINE_MIN))
        share = 1.0 if allowed_ids is None else len(allowed) / len(self)
        params = faiss_kinds.search_parameters(self._index, selector, share)
        scores, found = self._index.search(query, want, params=params)
        rows = found[0][found[0] >= 0]
        if self._exact is not None:  # re-score the approximate candidates with the exact vectors
            return self._best(query[0], np.unique(rows), k)
        return self._ids_of(rows), scores[0][: len(rows)]

    def similarity(self, vector: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        return self.vectors(ids) @ np.asarray(vector, dtype=np.float32)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The exact stored vectors of ``ids``, in that order (a copy of just those rows)."""
        return np.asarray(self._storage[self._rows(np.asarray(ids, dtype=np.int64).reshape(-1))], dtype=np.float32)

    def _best(self, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of ``rows`` (sorted) by exact score, ties to the lower row, as FAISS's flat search."""
        scores = self._storage[rows].astype(np.float32) @ query if len(rows) else np.zeros(0, dtype=np.float32)
        best = np.lexsort((rows, -scores))[:k]
        return self._ids_of(rows[best]), scores[best].astype(np.float32)

    def _own(self) -> None:
        """Copy mapped (read-only) data into memory before a change: FAISS aborts on writing a mapped file."""
        if self._mapped:
            self._index = faiss_kinds.owned(self._index)
            self._exact = None if self._exact is None else np.array(self._exact)
            self._mapped = False

    def _has(self, ids: np.ndarray) -> np.ndarray:
        if self._ids is None:
            return (ids >= 0) & (ids < len(self))
        pos = np.minimum(np.searchsorted(self._sorted_ids, ids), max(len(self) - 1, 0))
        return self._sorted_ids[pos] == ids if len(self) else np.zeros(len(ids), dtype=bool)

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        known = self._has(ids)
        if not known.all():
            raise KeyError(f"no vector with id {int(ids[~known][0])}")
        return ids if self._ids is None else self._order[np.searchsorted(self._sorted_ids, ids)]

    def _ids_of(self, rows: np.ndarray) -> np.ndarray:
        return rows.astype(np.int64) if self._ids is None else self._ids[rows]

    def _all_ids(self) -> np.ndarray:
        return np.arange(len(self), dtype=np.int64) if self._ids is None else self._ids

    def _sync(self) -> None:
        """Point at the exact vectors in place; map ids to rows only when they are not the rows."""
        n = int(self._index.ntotal)
        if self._exact is not None:
            self._storage = self._exact
        elif n:
            self._storage = faiss.rev_swig_ptr(self._index.get_xb(), n * self.dimension).reshape(n, self.dimension)
        else:
            self._storage = np.zeros((0, self.dimension), dtype=np.float32)
        if self._ids is not None and np.array_equal(self._ids, np.arange(n)):
            self._ids = None
        if self._ids is not None:
            self._order = np.argsort(self._ids, kind="stable")
            self._sorted_ids = self._ids[self._order]


def _check_new(ids: np.ndarray, existing: np.ndarray) -> None:
    if len(np.unique(ids)) != len(ids) or np.isin(ids, existing).any():
        raise ValueError("ids must be new and distinct")


def _read_npy(path: Path, shape: tuple[int, ...], dtypes: tuple[type, ...]) -> np.ndarray:
    """A memory-mapped ``.npy`` of ``shape``; ``ValueError`` when it is missing, truncated or of another shape."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read ({str(exc).splitlines()[0] if str(exc) else 'missing'})") from None
    if array.shape != shape or array.dtype not in dtypes:
        raise ValueError(f"{path} holds {array.dtype} {array.shape}, not {np.dtype(dtypes[0])} {shape}")
    return array


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _replace(path: Path, write) -> None:
    """Write ``path`` through a temporary file and a rename: a reader mapping the old file keeps its pages."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _ids_file(path: Path) -> Path:
    return path.with_name(path.name + ".ids.npy")


def _vectors_file(path: Path) -> Path:
    return path.with_name(path.name + ".vectors.npy")
