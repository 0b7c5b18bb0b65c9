"""The FAISS structures behind ``qa.faiss_index.FaissIndex``: which kind to build, and how to map one from disk.

Two kinds, both inner product over normalised vectors (cosine similarity):

- ``flat``: exact search over an ``IndexFlatIP``, whose storage is the vectors
  themselves. Loaded with ``IO_FLAG_MMAP_IFC``, the storage is the file's pages.
- ``ivf<lists>-sq8``: an inverted file of 8-bit scalar-quantised vectors (FAISS
  ``IVF<lists>,SQ8``), whose labels are row numbers of the exact vectors kept
  beside it; ``FaissIndex`` re-scores its candidates with those. Loaded with
  ``IO_FLAG_MMAP``, the inverted lists are the file's pages.

A mapped structure is read-only (FAISS aborts the process on a write), so
``owned`` copies it into memory before anything adds or removes vectors.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

# Inverted lists per vector count: a power of two near 4 * sqrt(n) (FAISS's guideline is 4-16 * sqrt(n)),
# so 300k vectors get 2,048 lists and 1M get 4,096; fewer lists train faster and need fewer probes.
LISTS_PER_SQRT = 4
TRAIN_PER_LIST = 50  # k-means sample per list (FAISS warns below 39); more barely moved recall, cost time
# Lists probed per query, as a share of the lists: NPROBE_SHARE of them, at least NPROBE_MIN. Chosen by the
# nprobe sweep of benchmarks/scale.py on 1,000 SQuAD questions of the train articles (never the test ones),
# recall@10 after exact re-scoring. A filter's allowed rows are sparser in each list, so a filtered search
# probes 1/sqrt(share) times more lists: at 300k (2,048 lists) a 5% filter had recall 0.93 at 64 probes,
# 0.97 at 256; a 1.1% filter 0.79 at 64, 0.96 at 512; a 20% filter 0.95 at 64, 0.98 at 128.
# At 100k vectors (1,024 lists) the sweep gave recall@10 0.949 at 16 probes and 0.968 at 32 (p95 0.27 against
# 0.36 ms), so at least 32; from 2,048 lists up the share gives 32 or more anyway (1M: 64 probes, recall 0.973).
NPROBE_SHARE = 1 / 64
NPROBE_MIN = 32

_FLAT, _IVF_SQ = b"IxFI", b"IwSq"  # FAISS's four-character codes of the two kinds


def lists_for(n: int) -> int:
    """A power of two near ``LISTS_PER_SQRT * sqrt(n)``, and at most n / 39 (FAISS's least points per list)."""
    wanted = 2 ** round(np.log2(max(1.0, LISTS_PER_SQRT * np.sqrt(n))))
    return int(max(1, min(wanted, 2 ** np.floor(np.log2(max(1.0, n / 39))))))


def nprobe_for(lists: int, share: float = 1.0) -> int:
    """Lists to probe; a filter letting through a ``share`` of the vectors probes 1/sqrt(share) times more."""
    return min(lists, round(max(NPROBE_MIN, lists * NPROBE_SHARE) / np.sqrt(max(share, 1e-6))))


def flat(dimension: int) -> faiss.Index:
    return faiss.IndexFlatIP(dimension)


def ivf_sq8(vectors: np.ndarray, lists: int | None = None, seed: int = 0) -> faiss.Index:
    """An IVF-SQ8 index trained on a sample of ``vectors`` and holding all of them, labelled by row."""
    n, dimension = vectors.shape
    lists = lists or lists_for(n)
    index = faiss.index_factory(dimension, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    sample = np.sort(np.random.default_rng(seed).choice(n, min(n, TRAIN_PER_LIST * lists), replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, n, 65_536):  # in slices, so a memory-mapped source is never copied whole
        index.add(np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32))
    return index


def is_flat(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexFlat)


def name(index: faiss.Index) -> str:
    return "flat" if is_flat(index) else f"ivf{index.nlist}-sq8"


def search_parameters(
    index: faiss.Index, selector: faiss.IDSelector | None = None, share: float = 1.0
) -> faiss.SearchParameters | None:
    """FAISS's search parameters, for a search among a ``share`` of the vectors when ``selector`` is given."""
    if is_flat(index):
        return None if selector is None else faiss.SearchParameters(sel=selector)
    return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe_for(index.nlist, share))


def read(path: Path) -> faiss.Index:
    """The index at ``path``, memory-mapped; ``ValueError`` when it is not one of the two kinds."""
    with open(path, "rb") as fh:
        fourcc = fh.read(4)
    if fourcc not in (_FLAT, _IVF_SQ):
        raise ValueError(f"{path} is not a flat or IVF-SQ8 FAISS index")
    flags = faiss.IO_FLAG_MMAP_IFC if fourcc == _FLAT else faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError:
        raise ValueError(f"{path} is truncated or not a FAISS index file") from None
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError(f"{path} holds an index by another metric than inner product")
    if not is_flat(index):
        lists = index.invlists
        # A mapped IVF file's lists are read by 32 prefetch threads per search by default: measured on the
        # 30k real vectors, that cost 4 ms (p95 12 ms on a busy machine) of a 0.1 ms search. The pages are
        # in the page cache after first use, so no prefetching at all.
        faiss.downcast_InvertedLists(lists).prefetch_nthread = 0
        if sum(lists.list_size(i) for i in range(index.nlist)) != index.ntotal:
            raise ValueError(f"{path} has inverted lists that do not add up to its {index.ntotal} vectors")
    return index


def owned(index: faiss.Index) -> faiss.Index:
    """``index`` with its data in memory, safe to add to and remove from (itself when it already is)."""
    if is_flat(index):
        copy = faiss.IndexFlatIP(index.d)
        if index.ntotal:
            copy.add(faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d))
        return copy
    mapped = index.invlists
    if isinstance(faiss.downcast_InvertedLists(mapped), faiss.ArrayInvertedLists):
        return index
    lists = faiss.ArrayInvertedLists(index.nlist, index.code_size)
    for i in range(index.nlist):
        if mapped.list_size(i):
            lists.add_entries(i, mapped.list_size(i), mapped.get_ids(i), mapped.get_codes(i))
    index.replace_invlists(lists, True)
    lists.this.disown()  # the index owns it now
    return index


def renumber(index: faiss.Index, removed_rows: np.ndarray) -> None:
    """After ``remove_ids`` on an owned IVF index, shift each label down past the removed rows."""
    removed = np.sort(removed_rows)
    lists = faiss.downcast_InvertedLists(index.invlists)
    for i in range(index.nlist):
        size = lists.list_size(i)
        if size:
            labels = faiss.rev_swig_ptr(lists.get_ids(i), size)
            labels -= np.searchsorted(removed, labels)
