"""The FAISS vector index against brute force, with awkward sizes, filters, removal and save/load."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from qa.faiss_index import FaissIndex


def unit(rng, n, d=24):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("n", [1, 7, 130])
def test_search_matches_brute_force(n):
    rng = np.random.default_rng(n)
    vectors, q = unit(rng, n), unit(rng, 1)[0]
    index = FaissIndex(24)
    index.add(np.arange(n), vectors)
    ids, scores = index.search(q, 10)
    expected = np.argsort(-(vectors @ q), kind="stable")[:10]
    assert list(ids) == list(expected)
    assert np.allclose(scores, (vectors @ q)[expected], atol=1e-5)
    assert np.allclose(index.similarity(q, [n - 1, 0]), vectors[[n - 1, 0]] @ q, atol=1e-6)


def test_allowed_ids_and_removal():
    rng = np.random.default_rng(1)
    vectors, q = unit(rng, 50), unit(rng, 1)[0]
    index = FaissIndex(24)
    index.add(np.arange(50), vectors)
    ids, _ = index.search(q, 5, allowed_ids=np.array([3, 9, 41]))
    assert set(ids) == {3, 9, 41}
    index.remove(np.array([9]))
    assert len(index) == 49 and 9 not in set(index.search(q, 49)[0])
    assert np.allclose(index.vectors([41, 3]), vectors[[41, 3]])  # ids still find their vectors


def test_save_and_load_give_the_same_results(tmp_path):
    rng = np.random.default_rng(2)
    vectors, q = unit(rng, 33), unit(rng, 1)[0]
    index = FaissIndex(24)
    index.add(np.arange(33), vectors)
    index.save(tmp_path / "v.faiss")
    again = FaissIndex.load(tmp_path / "v.faiss")
    assert [list(x) for x in index.search(q, 7)] == [list(x) for x in again.search(q, 7)]


def test_ids_other_than_rows_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(3)
    vectors, q = unit(rng, 12), unit(rng, 1)[0]
    index = FaissIndex(24)
    index.add(np.arange(100, 112), vectors)
    index.remove(np.array([100, 105]))
    index.save(tmp_path / "v.faiss")
    again = FaissIndex.load(tmp_path / "v.faiss")
    assert len(again) == 10 and np.allclose(again.vectors([111, 101]), vectors[[11, 1]])
    ids, _ = again.search(q, 3, allowed_ids=np.array([101, 111, 107]))
    assert set(ids) == {101, 111, 107}
    with pytest.raises(ValueError, match="new and distinct"):
        again.add(np.array([101]), vectors[:1])


def test_a_plain_faiss_file_reads_with_rows_as_ids(tmp_path):
    rng = np.random.default_rng(4)
    vectors = unit(rng, 12)
    flat = faiss.IndexFlatIP(24)
    flat.add(vectors)
    faiss.write_index(flat, str(tmp_path / "old.faiss"))
    assert np.allclose(FaissIndex.load(tmp_path / "old.faiss").vectors([11, 2]), vectors[[11, 2]])
