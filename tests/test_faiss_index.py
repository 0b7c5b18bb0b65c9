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


# ---- kinds: exact flat and approximate IVF-SQ8, memory-mapped after load ----------------------------------


def clustered(rng, n, d=32, centres=40):
    """Real-ish vectors: normalised points around a few dozen topics, as passage embeddings are."""
    topics = unit(rng, centres, d)
    v = topics[rng.integers(0, centres, n)] + 0.45 * rng.normal(size=(n, d)).astype(np.float32) / np.sqrt(d)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def brute(vectors, q, k=10, rows=None):
    rows = np.arange(len(vectors)) if rows is None else np.sort(rows)
    return rows[np.argsort(-(vectors[rows] @ q), kind="stable")[:k]]


KINDS = {"flat": 10**9, "approximate": 0}  # flat_limit forcing each kind


def stored(vectors, kind):
    """The vectors as an index of ``kind`` keeps them: float32 when flat, float16 beside an approximate one."""
    return vectors if kind == "flat" else vectors.astype(np.float16).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    vectors = clustered(rng, 4000)
    queries = clustered(np.random.default_rng(8), 60)
    return vectors, queries


def test_the_size_threshold_switches_kind(data):
    vectors, _ = data
    assert FaissIndex.for_vectors(vectors[:500], flat_limit=500).kind == "flat"
    assert FaissIndex.for_vectors(vectors[:500], flat_limit=499).kind.startswith("ivf")
    assert FaissIndex.for_vectors(vectors).kind == "flat"  # the default threshold is far above a test's size


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_finds_the_exact_neighbours_and_round_trips_memory_mapped(tmp_path, data, kind):
    vectors, queries = data
    index = FaissIndex.for_vectors(vectors, flat_limit=KINDS[kind])
    index.save(tmp_path / "v.faiss")
    again = FaissIndex.load(tmp_path / "v.faiss")
    assert again.kind == index.kind and len(again) == len(vectors) and again.dimension == 32
    hits = [len(set(again.search(q, 10)[0]) & set(brute(vectors, q))) / 10 for q in queries]
    assert np.mean(hits) >= 0.95
    for q in queries[:5]:
        ids, scores = again.search(q, 10)
        assert [list(ids), list(scores)] == [list(x) for x in index.search(q, 10)]
        kept = stored(vectors, kind)
        assert np.allclose(scores, kept[ids] @ q, atol=1e-6)  # full vectors' scores, even when search is not exact
    assert np.array_equal(again.vectors([3999, 0, 17]), stored(vectors, kind)[[3999, 0, 17]])
    assert np.allclose(again.similarity(queries[0], [5, 2]), vectors[[5, 2]] @ queries[0], atol=1e-3)


def test_a_loaded_approximate_index_keeps_its_vectors_on_disk(tmp_path, data):
    vectors, _ = data
    FaissIndex.for_vectors(vectors, flat_limit=0).save(tmp_path / "v.faiss")
    assert (tmp_path / "v.faiss.vectors.npy").exists() and not (tmp_path / "v.faiss.ids.npy").exists()
    assert isinstance(FaissIndex.load(tmp_path / "v.faiss")._exact, np.memmap)  # mapped, not read into memory


@pytest.mark.parametrize("kind", KINDS)
def test_filters_are_exact_for_small_allowed_sets(data, kind):
    vectors, queries = data
    index = FaissIndex.for_vectors(vectors, flat_limit=KINDS[kind])
    allowed = np.random.default_rng(9).choice(len(vectors), 37, replace=False)
    for q in queries[:10]:
        ids, scores = index.search(q, 10, allowed_ids=allowed)
        assert list(ids) == list(brute(stored(vectors, kind), q, rows=allowed))
        assert np.allclose(scores, stored(vectors, kind)[ids] @ q, atol=1e-6)
    assert len(index.search(queries[0], 10, allowed_ids=allowed[:3])[0]) == 3


def test_large_filters_go_through_faiss_and_keep_their_recall(data, monkeypatch):
    import qa.faiss_index

    monkeypatch.setattr(qa.faiss_index, "EXACT_ALLOWED", 100)
    vectors, queries = data
    index = FaissIndex.for_vectors(vectors, flat_limit=0)
    allowed = np.random.default_rng(10).choice(len(vectors), 1000, replace=False)
    hits = []
    for q in queries:
        ids, _ = index.search(q, 10, allowed_ids=allowed)
        assert set(ids) <= set(allowed)
        hits.append(len(set(ids) & set(brute(vectors, q, rows=allowed))) / 10)
    assert np.mean(hits) >= 0.95


@pytest.mark.parametrize("kind", KINDS)
def test_a_loaded_index_can_still_change(tmp_path, data, kind):
    vectors, queries = data
    FaissIndex.for_vectors(vectors[:3000], flat_limit=KINDS[kind]).save(tmp_path / "v.faiss")
    before = (tmp_path / "v.faiss").read_bytes()
    index = FaissIndex.load(tmp_path / "v.faiss")
    index.remove(np.arange(0, 3000, 3))
    index.add(np.arange(5000, 6000), vectors[3000:])
    assert (tmp_path / "v.faiss").read_bytes() == before  # the mapped file is not written through
    ids = np.concatenate([np.delete(np.arange(3000), np.arange(0, 3000, 3)), np.arange(5000, 6000)])
    kept = vectors[np.concatenate([np.delete(np.arange(3000), np.arange(0, 3000, 3)), np.arange(3000, 4000)])]
    assert len(index) == len(ids) and np.array_equal(index.vectors(ids[::97]), stored(kept, kind)[::97])
    hits = [len(set(index.search(q, 10)[0]) & set(ids[brute(kept, q)])) / 10 for q in queries]
    assert np.mean(hits) >= 0.95
    index.save(tmp_path / "w.faiss")
    again = FaissIndex.load(tmp_path / "w.faiss")
    assert [list(x) for x in again.search(queries[0], 10)] == [list(x) for x in index.search(queries[0], 10)]


@pytest.mark.parametrize(
    ("kind", "damage"),
    [
        ("flat", "faiss"),
        ("flat", "garbage"),
        ("approximate", "faiss"),
        ("approximate", "vectors"),
        ("approximate", "garbage"),
    ],
)
def test_a_damaged_file_is_a_value_error(tmp_path, data, kind, damage):
    vectors, _ = data
    FaissIndex.for_vectors(vectors[:1000], flat_limit=KINDS[kind]).save(tmp_path / "v.faiss")
    target = tmp_path / ("v.faiss.vectors.npy" if damage == "vectors" else "v.faiss")
    raw = target.read_bytes()
    target.write_bytes(b"not an index at all" * 50 if damage == "garbage" else raw[: len(raw) - 1000])
    with pytest.raises(ValueError):
        FaissIndex.load(tmp_path / "v.faiss")
