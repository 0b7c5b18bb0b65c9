"""The index on disk: save→load, incremental updates, killed builds, mismatches, staleness."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from qa import Assistant, HashEmbedder, IndexMismatch, IndexStale
from qa.chunking import ChunkSettings
from qa.entities import NoTagger
from qa.errors import IndexDamaged
from qa.index_files import LazySentences
from qa.store import current_build, load
from tests.conftest import ROOT


class CountingEmbedder(HashEmbedder):
    """Counts the texts it embeds, to see what a re-index touches."""

    def __init__(self):
        super().__init__()
        self.embedded: list[str] = []

    def encode(self, texts, batch_size=32, progress=None):
        self.embedded.extend(texts)
        return super().encode(texts, batch_size, progress)


QUESTIONS = ["Who was banned in 2025?", "vaccines export ban", "peace treaty talks", "Sakhalin gas"]


def test_save_then_load_gives_identical_results(fake_assistant, tmp_path):
    before = {q: [(h.chunk.id, round(h.score, 6)) for h in fake_assistant.retrieve(q, k=5)] for q in QUESTIONS}
    answers = {q: fake_assistant.ask(q).answer for q in QUESTIONS}
    reloaded = Assistant(
        fake_assistant.corpus, fake_assistant.index_dir, embedder=HashEmbedder(), tagger=NoTagger(), auto_refresh=False
    ).load()
    after = {q: [(h.chunk.id, round(h.score, 6)) for h in reloaded.retrieve(q, k=5)] for q in QUESTIONS}
    assert before == after
    assert answers == {q: reloaded.ask(q).answer for q in QUESTIONS}
    a, b = fake_assistant.state.data, reloaded.state.data
    rows = range(len(a.chunks))
    assert np.array_equal(a.chunk_index.vectors(rows), b.chunk_index.vectors(rows))


def test_an_unchanged_build_reads_its_sentences_as_they_are_needed(fake_assistant):
    """A whole sentences.jsonl is read line by line on demand; a build whose manifest does not count each
    document's sentences (or whose file changed) is read and checked in full, with the same records."""
    data = fake_assistant.state.data
    lazy = load(fake_assistant.index_dir, HashEmbedder(), ChunkSettings(), NoTagger())
    assert isinstance(lazy.sentences, LazySentences)
    lines = (data.path / "sentences.jsonl").read_text(encoding="utf-8").splitlines()
    assert [s.to_dict() for s in lazy.sentences] == [json.loads(line) for line in lines]
    manifest = json.loads((data.path / "manifest.json").read_text())
    for entry in manifest["documents"].values():
        del entry["sentences"]
    (data.path / "manifest.json").write_text(json.dumps(manifest))
    full = load(fake_assistant.index_dir, HashEmbedder(), ChunkSettings(), NoTagger())
    assert isinstance(full.sentences, list) and full.sentences == list(lazy.sentences)
    question = "Who was the Japanese foreign minister banned in 2025?"
    assert (
        fake_assistant.ask(question).answer
        == Assistant(
            fake_assistant.corpus,
            fake_assistant.index_dir,
            embedder=HashEmbedder(),
            tagger=NoTagger(),
            auto_refresh=False,
        )
        .ask(question)
        .answer
    )


def test_index_folder_has_manifest_and_no_pickle(fake_assistant):
    build = current_build(fake_assistant.index_dir)
    names = sorted(p.name for p in build.iterdir())
    assert names == [
        "chunks.faiss",
        "chunks.jsonl",
        "documents.jsonl",
        "keywords",
        "manifest.json",
        "sentences.faiss",
        "sentences.jsonl",
    ]
    assert sorted(p.suffix for p in (build / "keywords").iterdir()) == [
        ".json",
        ".json",
        ".json",
        ".npy",
        ".npy",
        ".npy",
    ]
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["schema_version"] == 5
    assert manifest["entities"] == "none"
    assert manifest["model"] == {"name": "hash-bow", "dimension": 64, "max_tokens": 256}
    assert manifest["chunking"] == ChunkSettings().to_dict()
    assert len(manifest["documents"]) == 5
    assert all(len(v["hash"]) == 32 for v in manifest["documents"].values())
    for path in [*build.iterdir(), *(build / "keywords").iterdir()]:
        if path.is_file():
            assert b"\x80\x04\x95" not in path.read_bytes()[:16]  # no pickle protocol header
    arrays = [np.load(p, allow_pickle=False) for p in (build / "keywords").glob("*.npy")]  # no object arrays
    assert all(a.dtype != object for a in arrays)


def test_reindex_embeds_only_what_changed(corpus_copy, tmp_path):
    embedder = CountingEmbedder()
    assistant = Assistant(corpus_copy, tmp_path / "index", embedder=embedder, tagger=NoTagger())
    first = assistant.refresh()
    assert len(first.added) == 5 and first.embedded == first.chunks

    embedder.embedded.clear()
    assert not assistant.refresh().touched and embedder.embedded == []

    changed = corpus_copy / "002_e8aff1e4ce63da82.txt"
    changed.write_text(changed.read_text() + "\nA new closing paragraph about fishing rights near Hokkaido.\n")
    (corpus_copy / "new.md").write_text("# Fishing deal\n\nJapan and Russia signed a salmon fishing deal in 2024.")
    (corpus_copy / "004_a36ece77d1e60406.txt").unlink()
    report = assistant.refresh()
    assert report.changed == ["002_e8aff1e4ce63da82.txt"] and report.added == ["new.md"]
    assert report.removed == ["004_a36ece77d1e60406.txt"] and report.unchanged == 3
    touched_docs = {c.doc for c in assistant.state.data.chunks if c.doc in ("002_e8aff1e4ce63da82.txt", "new.md")}
    assert report.embedded == sum(1 for c in assistant.state.data.chunks if c.doc in touched_docs)
    assert not any("Foreign Minister Takeshi Iwaya" in t for t in embedder.embedded)  # 000 untouched
    hits = assistant.retrieve("salmon fishing deal", k=1, mode="keyword")
    assert hits[0].chunk.doc == "new.md"
    assert all(h.chunk.doc != "004_a36ece77d1e60406.txt" for h in assistant.retrieve("Takaichi", k=20))


SLOW_BUILD = """
import sys, time
sys.path.insert(0, {root!r})
from qa import Assistant, HashEmbedder
from qa.entities import NoTagger

class Slow(HashEmbedder):
    def encode(self, texts, batch_size=32, progress=None):
        print("embedding", flush=True)
        time.sleep(60)
        return super().encode(texts, batch_size, progress)

Assistant({corpus!r}, {index!r}, embedder=Slow(), tagger=NoTagger()).refresh()
"""


def test_killed_build_leaves_previous_index_usable(fake_assistant):
    expected = [h.chunk.id for h in fake_assistant.retrieve("peace treaty talks", k=3)]
    corpus, index = fake_assistant.corpus, fake_assistant.index_dir
    (corpus / "extra.txt").write_text("An extra article about trade in seafood between the two countries.")
    script = SLOW_BUILD.format(root=str(ROOT), corpus=str(corpus), index=str(index))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "embedding"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    data = load(index, HashEmbedder(), ChunkSettings())
    assert "extra.txt" not in data.documents and len(data.documents) == 5
    survivor = Assistant(corpus, index, embedder=HashEmbedder(), tagger=NoTagger(), auto_refresh=False)
    with pytest.raises(IndexStale, match="run `qa index`"):
        survivor.load()
    # the next build finishes the job and cleans up
    fresh = Assistant(corpus, index, embedder=HashEmbedder(), tagger=NoTagger()).load()
    assert "extra.txt" in fresh.state.data.documents
    assert [h.chunk.id for h in fresh.retrieve("peace treaty talks", k=3)] == expected
    assert not list((index / "builds").glob(".tmp-*"))


def test_index_from_another_model_is_refused_clearly(fake_assistant):
    other = HashEmbedder(dimension=32, name="other-model")
    with pytest.raises(IndexMismatch, match="built with model hash-bow .* rebuild it with `qa index --rebuild`"):
        Assistant(
            fake_assistant.corpus, fake_assistant.index_dir, embedder=other, tagger=NoTagger(), auto_refresh=False
        ).load()
    # with auto refresh, the index is rebuilt for the new model
    rebuilt = Assistant(fake_assistant.corpus, fake_assistant.index_dir, embedder=other, tagger=NoTagger()).load()
    assert rebuilt.manifest.model.name == "other-model"


def test_other_chunking_settings_are_refused(fake_assistant):
    with pytest.raises(IndexMismatch, match="chunking"):
        Assistant(
            fake_assistant.corpus,
            fake_assistant.index_dir,
            embedder=HashEmbedder(),
            tagger=NoTagger(),
            settings=ChunkSettings(size=100),
            auto_refresh=False,
        ).load()


def test_an_unreadable_vector_file_is_named_and_rebuilt(fake_assistant):
    build = current_build(fake_assistant.index_dir)
    (build / "chunks.faiss").write_bytes(b"not a faiss file")
    with pytest.raises(IndexDamaged, match=r"chunks\.faiss cannot be read .*: run `qa index` to rebuild"):
        Assistant(
            fake_assistant.corpus,
            fake_assistant.index_dir,
            embedder=HashEmbedder(),
            tagger=NoTagger(),
            auto_refresh=False,
        ).load()
    rebuilt = Assistant(
        fake_assistant.corpus, fake_assistant.index_dir, embedder=HashEmbedder(), tagger=NoTagger()
    ).load()
    assert rebuilt.retrieve("Takeshi Iwaya entry ban", k=1)[0].chunk.doc == "000_a07452a012145e1e.txt"


def test_a_start_on_an_up_to_date_index_reads_it_once(fake_assistant, monkeypatch):
    from qa import store

    reads = []
    real = store._load_build
    monkeypatch.setattr(store, "_load_build", lambda *a: reads.append(a[0]) or real(*a))
    again = Assistant(fake_assistant.corpus, fake_assistant.index_dir, embedder=HashEmbedder(), tagger=NoTagger())
    report = again.refresh()
    assert not report.touched and len(reads) == 1
    assert again.manifest.counts["documents"] == 5


def test_a_collection_past_the_flat_limit_is_searched_by_an_approximate_index(corpus_copy, tmp_path, monkeypatch):
    import qa.faiss_index

    flat = Assistant(corpus_copy, tmp_path / "flat", embedder=HashEmbedder(), tagger=NoTagger()).load()
    monkeypatch.setattr(qa.faiss_index, "FLAT_LIMIT", 60)  # the articles' sentences pass it, their passages not
    approximate = Assistant(corpus_copy, tmp_path / "ivf", embedder=HashEmbedder(), tagger=NoTagger()).load()
    build = current_build(approximate.index_dir)
    kinds = json.loads((build / "manifest.json").read_text())["vectors"]
    assert kinds["chunks"] == "flat" and kinds["sentences"].startswith("ivf") and kinds["sentences"].endswith("-sq8")
    assert (build / "sentences.faiss.vectors.npy").exists()
    for q in QUESTIONS:
        assert flat.ask(q).answer == approximate.ask(q).answer

    (build / "sentences.faiss.vectors.npy").write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(IndexDamaged, match=r"sentences\.faiss.*: run `qa index` to rebuild"):
        Assistant(corpus_copy, tmp_path / "ivf", embedder=HashEmbedder(), tagger=NoTagger(), auto_refresh=False).load()
