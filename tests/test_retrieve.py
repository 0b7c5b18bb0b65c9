"""Retrieval against brute-force references, the three modes, filters, and the LangChain retriever."""

import numpy as np
import pytest

from qa import Assistant, Filter, HashEmbedder
from qa.chunking import embedding_text
from qa.entities import NoTagger
from qa.langchain import QARetriever
from qa.text import terms


@pytest.mark.parametrize("n_docs", [1, 7, 61])
def test_dense_matches_brute_force(tmp_path, n_docs):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(n_docs)
    words = "port trade ship salmon ban envoy treaty oil gas island vote court bank tariff".split()
    for i in range(n_docs):
        sentences = [" ".join(rng.choice(words, size=8)).capitalize() + "." for _ in range(rng.integers(1, 30))]
        (corpus / f"doc{i:03d}.txt").write_text(" ".join(sentences))
    assistant = Assistant(corpus, tmp_path / "index", embedder=HashEmbedder(), tagger=NoTagger()).load()
    data = assistant.state.data
    query = "salmon treaty court"
    q = HashEmbedder().encode([query])[0]
    k = min(13, len(data.chunks))
    expected = np.sort(data.chunk_index.vectors(range(len(data.chunks))) @ q)[::-1][:k]
    got = [h.score for h in assistant.retrieve(query, k=k, mode="dense")]
    assert np.allclose(got, expected, atol=1e-5)


def test_keyword_mode_ranks_by_bm25(fake_assistant):
    hits = fake_assistant.retrieve("Sakhalin gas supplies", k=3, mode="keyword")
    assert hits[0].chunk.doc == "004_a36ece77d1e60406.txt"
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert all(h.dense is None and h.keyword is not None for h in hits)


def test_hybrid_fuses_both_scores(fake_assistant):
    hits = fake_assistant.retrieve("Takeshi Iwaya entry ban", k=5)
    assert hits[0].chunk.doc == "000_a07452a012145e1e.txt"
    assert all(h.dense is not None and h.keyword is not None for h in hits)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_unknown_mode_is_rejected(fake_assistant):
    with pytest.raises(ValueError, match="use one of hybrid, dense, keyword"):
        fake_assistant.retrieve("x", mode="magic")


def test_filters_restrict_documents_and_dates(fake_assistant):
    only = frozenset({"003_56745e45d85cd26e.txt"})
    assert {h.chunk.doc for h in fake_assistant.retrieve("sanctions", k=10, where=Filter(docs=only))} == only
    dated = fake_assistant.retrieve("sanctions", k=20, where=Filter(date_from="2022-01-01", date_to="2022-12-31"))
    assert {h.chunk.doc for h in dated} == {"002_e8aff1e4ce63da82.txt", "003_56745e45d85cd26e.txt"}
    for mode in ("dense", "keyword"):
        assert fake_assistant.retrieve("sanctions", k=5, mode=mode, where=Filter(docs=frozenset())) == []


def test_keyword_index_reads_titles(fake_assistant):
    data = fake_assistant.state.data
    chunk = data.chunks[0]
    assert set(terms(data.documents[chunk.doc].title)) <= set(
        terms(embedding_text(data.documents[chunk.doc].title, chunk.text))
    )


def test_langchain_retriever_returns_documents_with_metadata(fake_assistant):
    retriever = QARetriever(assistant=fake_assistant, k=3, mode="hybrid")
    docs = retriever.invoke("Takeshi Iwaya entry ban")
    assert len(docs) == 3
    meta = docs[0].metadata
    assert set(meta) >= {"source", "title", "date", "start", "end", "score"}
    text = fake_assistant.document(meta["source"]).text
    assert text[meta["start"] : meta["end"]] == docs[0].page_content
