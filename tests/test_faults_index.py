"""Faults of the corpus and the index, as a user meets them: links out of the corpus folder, a damaged
index, records of the wrong shape, duplicate ids, byte order marks, and questions asked during a build."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time

import numpy as np
import pytest

from qa import Assistant, HashEmbedder, IndexMismatch, engines
from qa.chunking import ChunkSettings
from qa.corpus import load_corpus
from qa.embed import BUILD_TURN_CHARS, MiniLMEmbedder
from qa.entities import NoTagger
from qa.errors import IndexDamaged
from qa.store import current_build, load
from tests.conftest import IWAYA_DOC

SECRET = "root:x:0:0:zebrafish-secret:/root:/bin/bash"
IWAYA_QUESTION = "Which Japanese foreign minister did Russia ban?"


def make(corpus, index, **kwargs) -> Assistant:
    return Assistant(corpus, index, embedder=HashEmbedder(), tagger=NoTagger(), **kwargs)


def every_text(assistant: Assistant) -> str:
    data = assistant.state.data
    return "\n".join([c.text for c in data.chunks] + [d.text + d.title for d in data.documents.values()])


def answers_iwaya(assistant: Assistant) -> bool:
    return assistant.retrieve(IWAYA_QUESTION, k=1)[0].chunk.doc == IWAYA_DOC


# -- links out of the corpus folder -----------------------------------------------------------------


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "passwd").write_text(SECRET + "\n", "utf-8")
    (folder / "notes.txt").write_text(f"Private notes: {SECRET}. Nothing here is for the index.\n", "utf-8")
    (folder / "meta.json").write_text(json.dumps({IWAYA_DOC: {"title": "Hijacked title"}}), "utf-8")
    (folder / "records.jsonl").write_text(json.dumps({"id": "leak", "text": SECRET}) + "\n", "utf-8")
    return folder


def test_links_out_of_the_corpus_are_skipped_named_and_never_served(corpus_copy, tmp_path, outside):
    (corpus_copy / "passwd.txt").symlink_to(outside / "passwd")
    (corpus_copy / "etc-passwd.md").symlink_to("/etc/passwd")
    (corpus_copy / "private").symlink_to(outside)  # a folder outside
    (corpus_copy / "records.jsonl").symlink_to(outside / "records.jsonl")
    (corpus_copy / "metadata.json").symlink_to(outside / "meta.json")
    (corpus_copy / "sub").mkdir()
    (corpus_copy / "sub" / "up.txt").symlink_to("../../outside/notes.txt")  # relative, from a subfolder
    assistant = make(corpus_copy, tmp_path / "index").load()

    reasons = dict(assistant.skipped)
    for name in ("passwd.txt", "etc-passwd.md", "private", "records.jsonl", "metadata.json", "sub/up.txt"):
        assert reasons[name] == "symbolic link to a place outside the corpus folder: not read"
    assert sorted(d.doc for d in assistant.documents()) == sorted(p.name for p in corpus_copy.glob("0*.txt"))
    assert assistant.document(IWAYA_DOC).title != "Hijacked title"
    text = every_text(assistant)
    assert "zebrafish-secret" not in text and "root:x:0:0" not in text
    hits = assistant.retrieve("root bash zebrafish secret", k=20, mode="keyword")
    assert all("zebrafish" not in h.chunk.text for h in hits)


def test_links_inside_the_corpus_are_read_once(corpus_copy, tmp_path):
    (corpus_copy / "copy-of-iwaya.txt").symlink_to(IWAYA_DOC)  # same file: indexed once, under its own name
    (corpus_copy / ".drafts").mkdir()
    (corpus_copy / ".drafts" / "salmon.txt").write_text("Japan and Russia signed a salmon fishing deal in 2024.\n")
    (corpus_copy / "salmon.txt").symlink_to(".drafts/salmon.txt")  # a hidden file, shown through a link
    (corpus_copy / "zz-salmon.txt").symlink_to("salmon.txt")  # a second link to it: read once
    (corpus_copy / "loop.txt").symlink_to("loop.txt")
    (corpus_copy / "gone.txt").symlink_to("nowhere.txt")
    (corpus_copy / "shortcut").symlink_to(".drafts")  # a folder inside: not followed
    assistant = make(corpus_copy, tmp_path / "index").load()

    reasons = dict(assistant.skipped)
    assert reasons["copy-of-iwaya.txt"] == f"symbolic link to {IWAYA_DOC}, which is read under that name"
    assert reasons["zz-salmon.txt"] == "symbolic link to salmon.txt, which is read under that name"
    assert reasons["loop.txt"] == reasons["gone.txt"] == "broken or looping symbolic link: not read"
    assert reasons["shortcut"] == "symbolic link to a folder: links to folders are not followed"
    docs = [d.doc for d in assistant.documents()]
    assert "salmon.txt" in docs and "copy-of-iwaya.txt" not in docs and len(docs) == 6
    assert assistant.retrieve("salmon fishing deal", k=1, mode="keyword")[0].chunk.doc == "salmon.txt"


def test_a_file_swapped_for_a_link_after_the_walk_is_not_read(corpus_copy, outside):
    from qa.corpus_files import corpus_files, read_corpus_file

    files, _ = corpus_files(corpus_copy)
    victim = next(f for f in files if f.name == IWAYA_DOC)
    (corpus_copy / IWAYA_DOC).rename(corpus_copy / ".old")  # kept, so no new file can take its inode number
    (corpus_copy / IWAYA_DOC).symlink_to(outside / "passwd")
    with pytest.raises(ValueError, match="replaced by a symbolic link"):
        read_corpus_file(victim, 1_000_000)
    (corpus_copy / IWAYA_DOC).unlink()
    shutil.copy(outside / "passwd", corpus_copy / IWAYA_DOC)  # another file under the same name
    with pytest.raises(ValueError, match="replaced while the corpus was read"):
        read_corpus_file(victim, 1_000_000)


# -- a damaged index ------------------------------------------------------------------------------


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garble_line(path, line=2, replacement="{not json"):
    lines = path.read_text("utf-8").splitlines()
    lines[line - 1] = replacement
    path.write_text("\n".join(lines) + "\n", "utf-8")


def retype(path, line, field, value):
    lines = path.read_text("utf-8").splitlines()
    record = json.loads(lines[line - 1])
    record[field] = value
    garble_line(path, line, json.dumps(record))


DAMAGE = {
    "truncated chunks.faiss": ("chunks.faiss", truncate, r"truncated"),
    "missing sentences.faiss": ("sentences.faiss", lambda p: p.unlink(), r"\(missing\)"),
    "empty chunks.faiss": ("chunks.faiss", lambda p: p.write_bytes(b""), r"truncated"),
    "bad JSON in the manifest": ("manifest.json", lambda p: p.write_text('{"schema_version": 4,'), r"bad JSON"),
    "manifest of the wrong shape": ("manifest.json", lambda p: p.write_text("[4]"), r"not a JSON object"),
    "manifest with a wrong-typed field": (
        "manifest.json",
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "documents": ["a"]})),
        r'"documents" is \["a"\], not an object',
    ),
    "bad JSON in the chunks": ("chunks.jsonl", garble_line, r"line 2: bad JSON"),
    "missing chunks.jsonl": ("chunks.jsonl", lambda p: p.unlink(), r"\(missing\)"),
    "missing documents.jsonl": ("documents.jsonl", lambda p: p.unlink(), r"\(missing\)"),
    "garbled sentences.jsonl": ("sentences.jsonl", lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), r"not UTF-8"),
    "wrong-typed title in the documents": (
        "documents.jsonl",
        lambda p: retype(p, 3, "title", 5),
        r'line 3: record "title" is 5, not a string',
    ),
    "wrong-typed offset in the chunks": (
        "chunks.jsonl",
        lambda p: retype(p, 4, "start", "ten"),
        r'line 4: record "start" is "ten", not an integer',
    ),
    "missing keyword index": ("keywords", shutil.rmtree, r"not a saved keyword index"),
    "truncated keyword arrays": ("keywords", lambda p: truncate(p / "data.csc.index.npy"), r"saved keyword index"),
    "keyword index of another build": (
        "keywords",
        lambda p: (p / "frequencies.json").write_text('{"rows": 3, "df": {}}'),
        r"3 rows where the build has",
    ),
    "chunk text that is not the document's": (
        "chunks.jsonl",
        lambda p: retype(p, 1, "text", "Tampered passage"),
        r"line 1 is not a passage of documents.jsonl",
    ),
}


@pytest.mark.parametrize("fault", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_index_is_named_in_one_line_then_rebuilt(fake_assistant, fault):
    name, damage, reason = DAMAGE[fault]
    corpus, index = fake_assistant.corpus, fake_assistant.index_dir
    build = current_build(index)
    damage(build / name)

    with pytest.raises(IndexDamaged) as caught:  # `qa ask --no-refresh`: told what is wrong and what to do
        make(corpus, index, auto_refresh=False).load()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{build / name} cannot be read (")
    assert message.endswith("): run `qa index` to rebuild the index from the corpus")
    assert re.search(reason, message), message

    repaired = make(corpus, index)  # `qa index` and the app's start: rebuilt from the corpus, no error
    report = repaired.refresh()
    assert f"rebuilt from the corpus: {build / name} cannot be read" in report.summary()
    assert len(report.added) == 5 and answers_iwaya(repaired)
    assert answers_iwaya(make(corpus, index, auto_refresh=False).load())


def test_a_garbled_current_pointer_is_named_and_rebuilt(fake_assistant):
    (fake_assistant.index_dir / "CURRENT").write_text("../../etc\n")
    with pytest.raises(IndexDamaged, match=r"CURRENT cannot be read \('../../etc' is not the name of a build\)"):
        make(fake_assistant.corpus, fake_assistant.index_dir, auto_refresh=False).load()
    assert answers_iwaya(make(fake_assistant.corpus, fake_assistant.index_dir).load())


def test_another_model_is_still_a_mismatch_not_damage(fake_assistant):
    other = HashEmbedder(dimension=32, name="other-model")
    with pytest.raises(IndexMismatch) as caught:
        Assistant(
            fake_assistant.corpus, fake_assistant.index_dir, embedder=other, tagger=NoTagger(), auto_refresh=False
        ).load()
    assert not isinstance(caught.value, IndexDamaged)


# -- old builds are kept while a loader may read them --------------------------------------------------


def edit(corpus, n):
    (corpus / "extra.txt").write_text(f"Update number {n} about fishing quotas near Hokkaido.\n", "utf-8")


def test_the_build_before_stays_readable_after_a_rebuild(fake_assistant, monkeypatch):
    corpus, index = fake_assistant.corpus, fake_assistant.index_dir
    first = current_build(index)
    for n in range(2):
        edit(corpus, n)
        fake_assistant.refresh()
    builds = sorted(p.name for p in (index / "builds").iterdir())
    assert first.name in builds and len(builds) == 3  # replaced a moment ago: a loader may still be reading it
    assert len((first / "chunks.jsonl").read_text().splitlines()) == len(
        [c for c in fake_assistant.state.data.chunks if c.doc != "extra.txt"]
    )

    monkeypatch.setattr("qa.store.GRACE_SECONDS", 0.0)
    edit(corpus, 3)
    fake_assistant.refresh()
    kept = sorted(p.name for p in (index / "builds").iterdir())
    assert len(kept) == 2 and first.name not in kept and current_build(index).name in kept


def test_a_build_deleted_while_it_is_read_is_read_again_from_current(fake_assistant, monkeypatch):
    corpus, index = fake_assistant.corpus, fake_assistant.index_dir
    edit(corpus, 1)
    fake_assistant.refresh()
    live, builds = current_build(index), index / "builds"
    older = next(p for p in builds.iterdir() if p != live)
    real_read = engines.read_vectors
    calls = []

    def racing_read(path, rows, dimension, kind="flat"):  # another process swaps CURRENT back and prunes the live build
        if not calls:
            calls.append(path)
            (index / "CURRENT").write_text(older.name + "\n")
            shutil.rmtree(live)
        return real_read(path, rows, dimension)

    monkeypatch.setattr("qa.engines.read_vectors", racing_read)
    data = load(index, HashEmbedder(), ChunkSettings(), NoTagger())
    assert data.path == older and calls


def test_loads_during_rebuilds_never_fail(fake_assistant):
    """Issue 11: 2 of 26,084 loads during rebuilds hit FileNotFoundError."""
    corpus, index = fake_assistant.corpus, fake_assistant.index_dir
    done, errors = threading.Event(), []

    def rebuild():
        try:
            for n in range(12):
                edit(corpus, n)
                make(corpus, index).refresh()
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            done.set()

    builder = threading.Thread(target=rebuild)
    builder.start()
    loads = 0
    while not done.is_set():
        load(index, HashEmbedder(), ChunkSettings(), NoTagger())
        loads += 1
    builder.join()
    assert errors == [] and loads > 0


# -- records of the wrong shape and duplicate ids -------------------------------------------------------


def test_wrong_typed_records_are_skipped_and_named_the_rest_indexed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = [
        {"id": "good", "title": "Rivers", "text": "The Nile is the longest river in Africa."},
        {"id": "t", "title": 5, "text": "A record whose title is a number."},
        {"id": "d", "date": ["2024"], "text": "A record whose date is a list."},
        {"id": "x", "text": {"body": "nested"}},
        {"title": "No id", "text": "A record without an id."},
        {"id": None, "text": "A record with a null id."},
        ["not", "an", "object"],
        {"id": 17, "title": "Mountains", "date": "2024-05-01", "text": "Everest is the highest mountain."},
    ]
    (corpus / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records), "utf-8")
    (corpus / "a.txt").write_text("An article about deserts: the Sahara is a hot desert.\n", "utf-8")
    (corpus / "metadata.json").write_text(
        json.dumps({"a.txt": {"title": 12}, "b.txt": "a string", "c.txt": {"title": "Fine"}}, indent=1), "utf-8"
    )
    result = load_corpus(corpus)
    assert [d.doc for d in result.documents] == ["a.txt", "good", "17"]
    reasons = dict(result.skipped)
    assert reasons["records.jsonl:2"].startswith('bad record ("title" is a number, not a string)')
    assert '"date" is a list, not a string' in reasons["records.jsonl:3"]
    assert '"text" is missing or not a string' in reasons["records.jsonl:4"]
    assert '"id" is missing or not a string' in reasons["records.jsonl:5"]
    assert '"id" is missing or not a string' in reasons["records.jsonl:6"]
    assert "not a JSON object" in reasons["records.jsonl:7"]
    assert reasons["metadata.json:2"].startswith("entry for 'a.txt' ignored: \"title\" is a number, not a string")
    assert reasons["metadata.json:5"].startswith("entry for 'b.txt' ignored: a string, not an object")
    assert all("\n" not in r for r in reasons.values())
    assert next(d for d in result.documents if d.doc == "17").date == "2024-05-01"


def test_duplicate_ids_keep_the_first_and_index_the_rest(corpus_copy, tmp_path):
    first = {"id": "dup", "title": "Salmon", "text": "Japan and Russia signed a salmon fishing deal in 2024."}
    later = {"id": "dup", "title": "Crab", "text": "A later record with the same id, about crab quotas."}
    (corpus_copy / "a.jsonl").write_text(json.dumps(first) + "\n" + json.dumps(later) + "\n", "utf-8")
    (corpus_copy / "b.jsonl").write_text(json.dumps({**later, "id": IWAYA_DOC}) + "\n", "utf-8")
    assistant = make(corpus_copy, tmp_path / "index").load()  # used to stop with "duplicate document ids"

    reasons = dict(assistant.skipped)
    assert reasons["a.jsonl:2"] == "duplicate document id 'dup' (first read from a.jsonl:1): skipped"
    assert reasons["b.jsonl:1"] == f"duplicate document id {IWAYA_DOC!r} (first read from {IWAYA_DOC}): skipped"
    assert len(assistant.documents()) == 6
    assert assistant.document("dup").title == "Salmon"
    assert "crab" not in every_text(assistant).lower()
    assert answers_iwaya(assistant)


# -- byte order marks -----------------------------------------------------------------------------------


def test_a_byte_order_mark_is_never_title_or_body_and_offsets_stay_exact(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    article = "Port strike ends after two weeks\nDock workers returned on Monday after a deal on wages was signed.\n"
    (corpus / "bom.txt").write_bytes(b"\xef\xbb\xbf" + article.encode("utf-8"))
    (corpus / "bare.txt").write_bytes(b"\xef\xbb\xbfSingle line without any headline at all, just text here.")
    record = {"id": "r1", "title": "\ufeffFishing", "text": "Salmon quotas were cut by a fifth this year."}
    (corpus / "records.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(record).encode())
    (corpus / "metadata.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"bare.txt": {"date": "2024-01-02"}}).encode())
    assistant = make(corpus, tmp_path / "index").load()

    assert assistant.skipped == []
    docs = {d.doc: d for d in assistant.state.data.documents.values()}
    assert docs["bom.txt"].title == "Port strike ends after two weeks"
    assert docs["r1"].title == "Fishing" and docs["bare.txt"].date == "2024-01-02"
    for doc in docs.values():
        assert "\ufeff" not in doc.title
    for name in ("bom.txt", "bare.txt"):
        file_text = (corpus / name).read_bytes().decode("utf-8")  # the rule: offsets index the file decoded as UTF-8
        assert docs[name].text == file_text and file_text[0] == "\ufeff"
    for chunk in assistant.state.data.chunks:
        assert chunk.text == docs[chunk.doc].text[chunk.start : chunk.end] and "\ufeff" not in chunk.text
    answer = assistant.ask("When did the dock workers return?")
    for citation in answer.citations:
        file_text = (corpus / citation.doc).read_bytes().decode("utf-8")
        assert file_text[citation.start : citation.end] == citation.text


# -- questions during a build ---------------------------------------------------------------------------


class SlowModel:
    """Stands in for the sentence-transformers model: 50 ms per call, a vector that names its text."""

    def __init__(self):
        self.calls: list[int] = []

    def encode(self, texts, **_):
        self.calls.append((len(texts), sum(map(len, texts))))  # texts and characters encoded in this call
        time.sleep(0.05)
        return np.array([[float(len(t)), float(t.count("q"))] + [0.0] * 382 for t in texts], dtype=np.float32)


def test_a_question_waits_for_one_small_batch_not_the_whole_build(monkeypatch):
    import torch  # noqa: F401 (imported before timing: the first encode would import it)

    embedder = MiniLMEmbedder(backend="torch")  # its model is replaced by SlowModel, which batches
    model = SlowModel()
    monkeypatch.setattr(MiniLMEmbedder, "_model", model)
    texts = [("passage " * (20 + i))[: 100 + 15 * i] for i in range(60)]  # 100 to 985 characters
    started = threading.Event()
    result = {}

    def build():
        started.set()
        result["vectors"] = embedder.encode(texts)

    builder = threading.Thread(target=build)
    builder.start()
    started.wait()
    time.sleep(0.2)
    began = time.perf_counter()
    query = embedder.encode(["Who was banned in 2025? q"])
    waited = time.perf_counter() - began
    still_building = builder.is_alive()
    builder.join()

    assert still_building and waited < 0.5, waited  # one batch (50 ms) and its own turn, not the build
    assert query[0, 0] == len("Who was banned in 2025? q") and query[0, 1] == 1
    assert len(model.calls) > 10  # the build went in small turns: one text, or a few up to the budget
    assert all(texts == 1 or chars <= BUILD_TURN_CHARS for texts, chars in model.calls)
    assert [row[0] for row in result["vectors"]] == [len(t) for t in texts]  # every row where it belongs
