"""The Milvus store (``--store milvus-lite:PATH``): a real Milvus Lite in this process, beside the FAISS
store on the same corpus. What a user sees must not depend on the store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qa import Assistant, Filter, HashEmbedder, IndexMismatch
from qa.cli import main
from qa.engines import StoreSpec
from qa.entities import NoTagger
from qa.errors import UserError
from qa.milvus_index import client_for, close_clients
from qa.text import terms
from tests.conftest import IWAYA_DOC
from tests.test_cli import qa

QUERIES = [
    "Takeshi Iwaya entry ban",
    "sanctions on Russian banks",
    "export controls on semiconductors",
    "when did Russia bar Japanese lawmakers",
]


@pytest.fixture(autouse=True)
def one_milvus_per_test():
    """Each test opens its own Milvus Lite file; its in-process server ends with the test."""
    yield
    close_clients()


def lite(tmp_path) -> str:
    return f"milvus-lite:{tmp_path / 'milvus' / 'milvus.db'}"


def fast(corpus, index, store="faiss", **options) -> Assistant:
    return Assistant(corpus, index, embedder=HashEmbedder(), tagger=NoTagger(), store=store, **options)


def rows_in_milvus(assistant: Assistant) -> dict[str, int]:
    client, name = client_for(assistant.store), assistant.manifest.store["collection"]
    return {
        part: client.query(f"{name}_{part}", filter="", output_fields=["count(*)"])[0]["count(*)"]
        for part in ("chunks", "sentences")
    }


def spans(hits) -> list[tuple[str, int, int]]:
    return [(h.chunk.doc, h.chunk.start, h.chunk.end) for h in hits]


@pytest.fixture
def both(corpus_copy, tmp_path) -> tuple[Assistant, Assistant]:
    """The five articles indexed twice with the same embedder: FAISS files, and Milvus Lite."""
    faiss = fast(corpus_copy, tmp_path / "faiss-index").load()
    milvus = fast(corpus_copy, tmp_path / "milvus-index", store=lite(tmp_path)).load()
    return faiss, milvus


def test_milvus_retrieves_the_passages_faiss_does(both):
    faiss, milvus = both
    assert milvus.manifest.store["engine"] == "milvus" and faiss.manifest.store == {"engine": "faiss"}
    for query in QUERIES:
        for mode in ("hybrid", "dense", "keyword"):
            expected = faiss.retrieve(query, k=5, mode=mode)
            got = milvus.retrieve(query, k=5, mode=mode)
            assert spans(got) == spans(expected), (query, mode)
            for a, b in zip(got, expected):
                assert a.score == pytest.approx(b.score, rel=0.01, abs=1e-4)


def test_milvus_bm25_scores_the_words_bm25s_does(both):
    faiss, milvus = both
    rows = np.arange(len(faiss.state.data.chunks))
    for query in QUERIES:
        expected = faiss.state.data.keyword_index.scores_of(terms(query), rows)
        got = milvus.state.data.keyword_index.scores_of(terms(query), rows)
        assert expected.max() > 0
        # the same terms score within 1% (measured here: at most 0.6%; Milvus rounds passage lengths)
        np.testing.assert_allclose(got, expected, rtol=0.01, atol=1e-4)
    assert milvus.state.data.keyword_index.idf("iwaya") == faiss.state.data.keyword_index.idf("iwaya")


def test_document_and_date_filters_run_in_milvus(both):
    faiss, milvus = both
    for where in (
        Filter(docs=frozenset({IWAYA_DOC})),
        Filter(date_from="2025"),
        Filter(date_to="2022-12"),
        Filter(date_from="2023-01-01", date_to="2024"),
        Filter(docs=frozenset({"no such document"})),
    ):
        expected = faiss.retrieve("sanctions and entry bans", k=8, where=where)
        got = milvus.retrieve("sanctions and entry bans", k=8, where=where)
        assert spans(got) == spans(expected), where
        assert all(where.allows(h.chunk.doc, milvus.state.data.documents[h.chunk.doc].date) for h in got)


def test_an_update_upserts_changed_documents_and_deletes_the_rest(corpus_copy, tmp_path):
    assistant = fast(corpus_copy, tmp_path / "index", store=lite(tmp_path))
    first = assistant.refresh()
    assert first.embedded == first.chunks
    assert rows_in_milvus(assistant) == {
        "chunks": assistant.manifest.counts["chunks"],
        "sentences": assistant.manifest.counts["sentences"],
    }
    files = sorted(corpus_copy.glob("*.txt"))
    files[0].write_text(files[0].read_text(encoding="utf-8") + "\nA closing line added later.\n", encoding="utf-8")
    files[1].unlink()
    report = assistant.refresh()
    assert report.changed == [files[0].name] and report.removed == [files[1].name] and report.unchanged == 3
    assert report.embedded < report.chunks  # the unchanged articles kept their vectors
    assert rows_in_milvus(assistant) == {
        "chunks": assistant.manifest.counts["chunks"],
        "sentences": assistant.manifest.counts["sentences"],
    }
    assert all(h.chunk.doc != files[1].name for h in assistant.retrieve("Japan Russia sanctions", k=10))


def test_a_build_killed_after_storing_leaves_the_last_complete_one(corpus_copy, tmp_path, monkeypatch):
    from qa import store

    assistant = fast(corpus_copy, tmp_path / "index", store=lite(tmp_path)).load()
    before = spans(assistant.retrieve("Takeshi Iwaya entry ban", k=3))
    extra = corpus_copy / "extra.txt"
    extra.write_text("Iwaya Extra\n\nTakeshi Iwaya spoke about the entry ban at length on Tuesday.\n", encoding="utf-8")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_publish", killed)
    with pytest.raises(KeyboardInterrupt):
        fast(corpus_copy, tmp_path / "index", store=lite(tmp_path)).refresh()
    monkeypatch.undo()
    # the collection holds the unfinished build's rows, but the live manifest names the complete one
    reader = fast(corpus_copy, tmp_path / "index", store=lite(tmp_path), auto_refresh=False)
    reader._state = None
    data = store.load(reader.index_dir, reader.embedder, reader.settings, reader.tagger, reader.store)
    assert "extra.txt" not in data.documents
    assert rows_in_milvus(assistant)["chunks"] > data.manifest.counts["chunks"]
    assert spans(assistant.retrieve("Takeshi Iwaya entry ban", k=3)) == before
    # the next build stores nothing again, publishes, and deletes what no build names
    again = fast(corpus_copy, tmp_path / "index", store=lite(tmp_path))
    report = again.refresh()
    assert report.added == ["extra.txt"]
    assert rows_in_milvus(again)["chunks"] == again.manifest.counts["chunks"]
    assert any(h.chunk.doc == "extra.txt" for h in again.retrieve("Takeshi Iwaya entry ban", k=5))


def test_qa_index_moves_a_faiss_index_to_milvus_without_embedding(corpus_copy, tmp_path):
    faiss = fast(corpus_copy, tmp_path / "faiss-index").load()
    target = fast(corpus_copy, tmp_path / "milvus-index", store=lite(tmp_path))
    report = target.refresh(source=tmp_path / "faiss-index")
    assert report.embedded == 0 and report.unchanged == 5
    assert target.manifest.store["engine"] == "milvus"
    assert spans(target.retrieve("Takeshi Iwaya entry ban")) == spans(faiss.retrieve("Takeshi Iwaya entry ban"))
    # the FAISS index is left as it was
    assert fast(corpus_copy, tmp_path / "faiss-index", auto_refresh=False).load().manifest.store["engine"] == "faiss"


def test_an_index_opened_with_another_store_says_how_to_move_it(both, corpus_copy, tmp_path):
    faiss, _ = both
    asked = fast(corpus_copy, tmp_path / "faiss-index", store=lite(tmp_path), auto_refresh=False)
    with pytest.raises(IndexMismatch) as exc:
        asked.load()
    message = str(exc.value)
    assert "\n" not in message and "keeps its vectors in faiss" in message
    assert "qa index --store milvus-lite:" in message


def test_a_missing_collection_is_named_and_rebuilt(both, corpus_copy, tmp_path):
    _, milvus = both
    name = milvus.manifest.store["collection"]
    client_for(milvus.store).drop_collection(f"{name}_sentences")
    again = fast(corpus_copy, tmp_path / "milvus-index", store=lite(tmp_path))
    report = again.refresh()
    assert f"{name}_sentences is missing" in report.rebuilt
    assert report.embedded == report.chunks
    assert spans(again.retrieve("Takeshi Iwaya entry ban")) == spans(both[0].retrieve("Takeshi Iwaya entry ban"))


def test_a_rebuild_drops_the_collections_it_replaces(both, corpus_copy, tmp_path):
    _, milvus = both
    old = milvus.manifest.store["collection"]
    again = fast(corpus_copy, tmp_path / "milvus-index", store=lite(tmp_path))
    again.refresh(rebuild=True)
    new = again.manifest.store["collection"]
    assert new != old
    client = client_for(again.store)
    assert not client.has_collection(f"{old}_chunks") and client.has_collection(f"{new}_chunks")


@pytest.mark.parametrize(
    "text, engine, uri",
    [
        ("faiss", "faiss", ""),
        ("milvus://db.example:19530", "milvus", "http://db.example:19530"),
        ("milvus-lite:/data/qa/milvus.db", "milvus", "/data/qa/milvus.db"),
    ],
)
def test_store_specs(text, engine, uri):
    spec = StoreSpec.parse(text)
    assert (spec.engine, spec.uri) == (engine, uri)
    assert str(spec) == text


def test_an_unknown_store_is_one_line_that_lists_the_choices(tmp_path):
    with pytest.raises(UserError, match=r"^unknown store 'milvus:x': use faiss, milvus-lite:PATH or milvus://"):
        StoreSpec.parse("milvus:x")
    result = CliRunner().invoke(main, ["retrieve", "ban", "--store", "redis://x", "--index", str(tmp_path / "i")])
    assert result.exit_code != 0 and "unknown store 'redis://x'" in result.output


@pytest.mark.model
def test_the_iwaya_question_is_answered_and_cited_from_milvus(corpus_copy, tmp_path):
    """As a user runs it: `qa index` then `qa ask`, two processes, the store chosen by QA_STORE."""
    env = {"QA_CORPUS": str(corpus_copy), "QA_INDEX": str(tmp_path / "index"), "QA_STORE": lite(tmp_path)}
    qa("index", "--no-progress", env=env)
    answer = json.loads(qa("ask", "--json", "Who was the Japanese foreign minister banned in 2025?", env=env).stdout)
    assert "Takeshi Iwaya" in answer["answer"] and answer["abstained"] is False
    cite = answer["citations"][0]
    assert cite["doc"] == IWAYA_DOC
    assert (corpus_copy / IWAYA_DOC).read_text(encoding="utf-8")[cite["start"] : cite["end"]] == cite["text"]
    manifest = json.loads(next((tmp_path / "index" / "builds").glob("*/manifest.json")).read_text())
    assert manifest["store"]["engine"] == "milvus"
    assert not list((tmp_path / "index" / "builds").glob("*/chunks.faiss"))  # the vectors are in Milvus
