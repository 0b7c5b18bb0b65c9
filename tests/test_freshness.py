"""Starts that read, not redo: files unchanged since the build are neither read nor cleaned again."""

from __future__ import annotations

import json
import os

import pytest

from qa import Assistant, HashEmbedder
from qa import corpus as corpus_module
from qa.entities import NoTagger
from qa.store import current_build


def start(corpus, index) -> Assistant:
    return Assistant(corpus, index, embedder=HashEmbedder(), tagger=NoTagger())


@pytest.fixture
def counted(monkeypatch):
    """How many documents were cleaned, and which files were read, since the fixture started."""
    seen = {"cleaned": 0, "read": []}
    make, read = corpus_module.make_document, corpus_module.read_corpus_file

    def make_document(*args, **kwargs):
        seen["cleaned"] += 1
        return make(*args, **kwargs)

    def read_corpus_file(file, max_bytes):
        seen["read"].append(file.name)
        return read(file, max_bytes)

    monkeypatch.setattr(corpus_module, "make_document", make_document)
    monkeypatch.setattr(corpus_module, "read_corpus_file", read_corpus_file)
    return seen


def test_an_unchanged_corpus_is_neither_read_nor_cleaned_at_start(fake_assistant, counted):
    again = start(fake_assistant.corpus, fake_assistant.index_dir)
    report = again.refresh()
    assert not report.touched and counted == {"cleaned": 0, "read": []}
    assert len(again.documents()) == 5
    assert "Takeshi Iwaya" in again.ask("Who was the Japanese foreign minister banned in 2025?").answer


def test_a_touched_file_is_hashed_not_cleaned_and_its_new_stamp_kept(fake_assistant, counted):
    corpus = fake_assistant.corpus
    name = sorted(p.name for p in corpus.glob("*.txt"))[0]
    st = (corpus / name).stat()
    os.utime(corpus / name, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    before = current_build(fake_assistant.index_dir)

    report = start(corpus, fake_assistant.index_dir).refresh()
    assert not report.touched and counted["cleaned"] == 0 and counted["read"] == [name]
    after = current_build(fake_assistant.index_dir)
    assert after != before  # the same build under a new name, with the file's new mtime
    stamp = json.loads((after / "manifest.json").read_text())["files"][name]
    assert stamp["mtime_ns"] == st.st_mtime_ns + 5_000_000_000
    assert os.path.samefile(after / "chunks.faiss", before / "chunks.faiss")  # linked, not copied

    counted["read"].clear()
    start(corpus, fake_assistant.index_dir).refresh()
    assert counted["read"] == []


def test_an_edited_file_alone_is_cleaned_and_reindexed(fake_assistant, counted):
    corpus = fake_assistant.corpus
    name = sorted(p.name for p in corpus.glob("*.txt"))[0]
    path = corpus / name
    path.write_text(path.read_text() + "\n\nThe ministry added a paragraph about Hokkaido fisheries quotas.\n")
    again = start(corpus, fake_assistant.index_dir)
    report = again.refresh()
    assert report.changed == [name] and counted["cleaned"] == 1
    assert "Hokkaido fisheries quotas" in again.document(name).text


def test_new_metadata_cleans_every_file_again(fake_assistant, counted):
    corpus = fake_assistant.corpus
    name = sorted(p.name for p in corpus.glob("*.txt"))[0]
    (corpus / "metadata.json").write_text(json.dumps({name: {"title": "A title from the metadata"}}))
    again = start(corpus, fake_assistant.index_dir)
    report = again.refresh()
    assert counted["cleaned"] == 5 and report.changed == [name]
    assert again.document(name).title == "A title from the metadata"


def test_skipped_records_of_an_unchanged_file_are_still_named(tmp_path, counted):
    records = tmp_path / "records.jsonl"
    good = {"id": "a", "title": "Bans", "text": "Russia banned nine Japanese citizens on Wednesday."}
    records.write_text(json.dumps(good) + "\n" + '{"id": 5, "text": 7}\n')
    first = start(records, tmp_path / "index")
    first.refresh()
    assert first.skipped == [
        ("records.jsonl:2", 'bad record ("text" is missing or not a string); expected {"id", "title", "text"}')
    ]
    counted["read"].clear()
    again = start(records, tmp_path / "index")
    again.refresh()
    assert counted["read"] == [] and again.skipped == first.skipped
    assert [d.doc for d in again.documents()] == ["a"]


class FailingEmbedder(HashEmbedder):
    """Embeds ``allowed`` texts, then fails as a killed build would stop."""

    def __init__(self, allowed: int):
        super().__init__()
        self.allowed = allowed
        self.embedded = 0

    def encode(self, texts, batch_size=32, progress=None):
        if self.embedded + len(texts) > self.allowed:
            raise KeyboardInterrupt("stopped part-way")
        self.embedded += len(texts)
        return super().encode(texts, batch_size, progress)


def test_an_interrupted_build_resumes_from_the_vectors_it_saved(corpus_copy, tmp_path, monkeypatch):
    from qa import partial

    monkeypatch.setattr(partial, "BATCH", 20)
    index = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        Assistant(corpus_copy, index, embedder=FailingEmbedder(100), tagger=NoTagger()).refresh()
    assert current_build(index) is None  # nothing went live
    saved = sorted((index / "partial").glob("*.npy"))
    assert len(saved) == 5
    lost = len(json.loads(saved[0].with_suffix(".json").read_text()))
    saved[0].write_bytes(b"torn")  # one file damaged: its texts are embedded again

    resumed = FailingEmbedder(10_000)
    again = Assistant(corpus_copy, index, embedder=resumed, tagger=NoTagger())
    report = again.refresh()
    assert report.resumed == 91 - lost  # 31 chunks and 60 sentences were saved, in batches of 20
    assert f"{91 - lost} vectors taken from an interrupted build" in report.summary()
    total = report.resumed + resumed.embedded
    assert not (index / "partial").exists()
    # the same index as a build that was never interrupted
    fresh = Assistant(corpus_copy, tmp_path / "fresh", embedder=HashEmbedder(), tagger=NoTagger())
    fresh.refresh()
    assert total == fresh.state.data.manifest.counts["chunks"] + fresh.state.data.manifest.counts["sentences"]
    question = "Who was the Japanese foreign minister banned in 2025?"
    assert again.ask(question).answer == fresh.ask(question).answer
