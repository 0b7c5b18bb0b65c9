"""Faults in changing the collection (issue 11, items 2, 3 and 6): nothing is lost, questions never wait.

Each test reproduces a failure found by trying the app as a user and an
attacker would: an upload whose indexing fails, removal and restore, an
overwrite, a ``.jsonl`` record taken for a file, a question asked while an
upload is being indexed, and a question in a language the model cannot read.
The five articles with the fake embedder, except where the real model's
locking is what is tested.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import pytest

from qa import Assistant, HashEmbedder
from qa import store as store_module
from qa.app import ChatApp
from qa.documents import DocumentExists
from qa.entities import NoTagger
from qa.errors import QuestionError, UnknownDocument, UploadError
from tests.conftest import CORPUS, IWAYA_DOC

IWAYA_QUESTION = "Which Japanese foreign minister did Russia ban in 2025?"
FESTIVAL = (
    b"Otaru lantern festival draws record crowd\n\ndate 2026-02-16\n\n"
    b"The Otaru Snow Light Path festival in Hokkaido drew 48,500 visitors over ten days, organisers said.\n"
    b"The festival lines the old canal with thousands of snow lanterns lit by volunteers every evening.\n"
)
FESTIVAL_QUESTION = "How many visitors did the Otaru Snow Light Path festival draw?"
WAIT_S = 60  # a safety net so that a question that does wait fails the test instead of hanging it


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cited(answer) -> set[str]:
    return {c.doc for c in answer.citations}


def broken(*args, **kwargs):
    """A refresh that fails the way a full disk would."""
    raise OSError("disk full while writing the index")


def fresh(assistant: Assistant) -> Assistant:
    """The same corpus and index opened again, as the next start of the app would."""
    return Assistant(assistant.corpus, assistant.index_dir, embedder=HashEmbedder(), tagger=NoTagger()).load()


@pytest.fixture
def chat_app(fake_assistant, tmp_path) -> ChatApp:
    return ChatApp(fake_assistant, tmp_path / "feedback.jsonl")


@pytest.fixture
def gradio_upload(tmp_path, monkeypatch):
    folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))

    def make(name: str, data: bytes) -> str:
        path = folder / uuid.uuid4().hex / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        return str(path)

    return make


def last(events) -> tuple:
    *_, final = events
    return final


@pytest.fixture
def held_build(monkeypatch):
    """Builds wait at their start until ``release`` is set; ``started`` says one is waiting."""
    started, release = threading.Event(), threading.Event()
    build = store_module.build

    def waiting(*args, **kwargs):
        started.set()
        if not release.wait(WAIT_S):
            raise TimeoutError("the test never released the build")
        return build(*args, **kwargs)

    monkeypatch.setattr(store_module, "build", waiting)
    yield started, release
    release.set()


# -- a failing upload -----------------------------------------------------------------------------


def test_a_failing_upload_rolls_back_its_file_and_the_next_start_works(fake_assistant, monkeypatch):
    corpus = fake_assistant.corpus
    before = files(corpus)
    monkeypatch.setattr(fake_assistant, "refresh", broken)
    with pytest.raises(OSError, match="disk full"):
        fake_assistant.add_document("festival.md", FESTIVAL)
    with pytest.raises(OSError, match="disk full"):  # a replacement: the file it replaced comes back
        fake_assistant.add_document(IWAYA_DOC, FESTIVAL, replace=True)
    assert files(corpus) == before
    assert fake_assistant.trashed() == []
    again = fresh(fake_assistant)  # no "duplicate document ids", no festival.md
    assert [d.doc for d in again.documents()] == sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".txt")
    assert IWAYA_DOC in cited(again.ask(IWAYA_QUESTION))


def test_the_documents_tab_says_a_failed_upload_was_not_added(chat_app, fake_assistant, gradio_upload, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("faiss: /srv/secret/index.faiss is corrupt")

    monkeypatch.setattr(fake_assistant, "refresh", broken)
    status, table, *_ = last(chat_app.add_files([gradio_upload("festival.md", FESTIVAL)]))
    assert "Not added: festival.md: Something went wrong" in html.unescape(status) and "secret" not in status
    assert not (fake_assistant.corpus / "festival.md").exists()


# -- remove and restore ---------------------------------------------------------------------------


def test_remove_then_restore_makes_the_document_answerable_again(fake_assistant):
    corpus, original = fake_assistant.corpus, (fake_assistant.corpus / IWAYA_DOC).read_bytes()
    title = fake_assistant.document(IWAYA_DOC).title
    report = fake_assistant.remove_document(IWAYA_DOC)
    assert report.removed == [IWAYA_DOC] and not (corpus / IWAYA_DOC).exists()
    assert IWAYA_DOC not in cited(fake_assistant.ask(IWAYA_QUESTION))
    [item] = fake_assistant.trashed()
    assert (item.name, item.title) == (IWAYA_DOC, title)
    assert item.id in str(next(fake_assistant.trash_dir.rglob(IWAYA_DOC)))  # a trash folder beside the index
    report = fake_assistant.restore(item.id)
    assert report.added == [IWAYA_DOC] and (corpus / IWAYA_DOC).read_bytes() == original
    assert fake_assistant.trashed() == []
    answer = fake_assistant.ask(IWAYA_QUESTION)
    assert "Iwaya" in answer.answer and IWAYA_DOC in cited(answer)
    assert IWAYA_DOC in cited(fresh(fake_assistant).ask(IWAYA_QUESTION))


def test_two_removals_of_one_name_are_both_kept_and_restore_never_overwrites(fake_assistant):
    first, second = FESTIVAL, FESTIVAL.replace(b"48,500", b"51,000")
    fake_assistant.add_document("festival.md", first)
    fake_assistant.remove_document("festival.md")
    fake_assistant.add_document("festival.md", second)
    fake_assistant.remove_document("festival.md")
    newest, oldest = fake_assistant.trashed()
    assert newest.name == oldest.name == "festival.md" and newest.id != oldest.id
    fake_assistant.add_document("festival.md", FESTIVAL.replace(b"48,500", b"60,000"))
    with pytest.raises(DocumentExists, match="remove it first"):
        fake_assistant.restore(oldest.id)
    fake_assistant.remove_document("festival.md")
    fake_assistant.restore(oldest.id)
    assert (fake_assistant.corpus / "festival.md").read_bytes() == first
    assert "48,500" in fake_assistant.ask(FESTIVAL_QUESTION).answer
    with pytest.raises(UploadError, match="not in the trash"):
        fake_assistant.restore("../../" + newest.id)


def test_a_file_in_a_subfolder_goes_to_the_trash_and_back_to_its_folder(fake_assistant):
    (fake_assistant.corpus / "2026").mkdir()
    (fake_assistant.corpus / "2026" / "festival.md").write_bytes(FESTIVAL)
    fake_assistant.refresh()
    fake_assistant.remove_document("2026/festival.md")
    [item] = fake_assistant.trashed()
    assert item.name == "2026/festival.md" and not (fake_assistant.corpus / "2026" / "festival.md").exists()
    fake_assistant.restore(item.id)
    assert (fake_assistant.corpus / "2026" / "festival.md").read_bytes() == FESTIVAL
    assert "2026/festival.md" in cited(fake_assistant.ask(FESTIVAL_QUESTION))


def test_a_failing_remove_puts_the_file_back(fake_assistant, monkeypatch):
    before = files(fake_assistant.corpus)
    monkeypatch.setattr(fake_assistant, "refresh", broken)
    with pytest.raises(OSError, match="disk full"):
        fake_assistant.remove_document(IWAYA_DOC)
    assert files(fake_assistant.corpus) == before and fake_assistant.trashed() == []


# -- overwrite ------------------------------------------------------------------------------------


def test_overwriting_asks_first_and_puts_the_old_file_in_the_trash(fake_assistant):
    target, original = fake_assistant.corpus / IWAYA_DOC, (fake_assistant.corpus / IWAYA_DOC).read_bytes()
    with pytest.raises(DocumentExists, match="already in the collection"):
        fake_assistant.add_document(IWAYA_DOC, FESTIVAL)
    assert target.read_bytes() == original and fake_assistant.trashed() == []
    report = fake_assistant.add_document(IWAYA_DOC, FESTIVAL, replace=True)
    assert report.changed == [IWAYA_DOC] and target.read_bytes() == FESTIVAL
    [item] = fake_assistant.trashed()
    assert (fake_assistant.trash_dir / item.id / IWAYA_DOC).read_bytes() == original
    assert "48,500" in fake_assistant.ask(FESTIVAL_QUESTION).answer
    assert not fake_assistant.add_document(IWAYA_DOC, FESTIVAL).touched  # the same bytes again: nothing to ask


def test_the_documents_tab_asks_before_replacing(chat_app, fake_assistant, gradio_upload):
    original = (fake_assistant.corpus / IWAYA_DOC).read_bytes()
    *_, pending, box, question, button = last(chat_app.add_files([gradio_upload(IWAYA_DOC, FESTIVAL)]))
    assert f"{IWAYA_DOC} is already in the collection. Replace it?" in question
    assert box.visible is True and button.value == "Replace"
    assert (fake_assistant.corpus / IWAYA_DOC).read_bytes() == original
    status, *_ = chat_app.cancel(pending)
    assert f"Kept the current {IWAYA_DOC}" in status
    *_, pending, _, _, _ = last(chat_app.add_files([gradio_upload(IWAYA_DOC, FESTIVAL)]))
    status, *_, pending, box, _, _ = last(chat_app.confirm(pending))
    assert f"Replaced {IWAYA_DOC}" in status and "in the trash" in status and box.visible is False
    assert (fake_assistant.corpus / IWAYA_DOC).read_bytes() == FESTIVAL
    assert [t.name for t in fake_assistant.trashed()] == [IWAYA_DOC]


# -- records of a .jsonl file ---------------------------------------------------------------------


def test_a_jsonl_record_cannot_be_removed_and_the_jsonl_survives(corpus_copy, tmp_path):
    records = corpus_copy / "wire.jsonl"
    lines = [
        {
            "id": "wire-1",
            "title": "Harbour fees rise",
            "text": "The Kushiro harbour fee rises to 12 yen in April 2026.",
        },
        {"id": "wire.jsonl", "title": "A record named like its file", "text": "A record with a file-like id."},
    ]
    records.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    saved = records.read_bytes()
    assistant = Assistant(corpus_copy, tmp_path / "index2", embedder=HashEmbedder(), tagger=NoTagger()).load()
    with pytest.raises(UploadError, match=r"^wire-1: a record of a \.jsonl file") as raised:
        assistant.remove_document("wire-1")
    assert "\n" not in str(raised.value)
    with pytest.raises(UploadError, match="record of a .jsonl file"):
        assistant.remove_document("wire.jsonl")
    with pytest.raises(UnknownDocument):
        assistant.remove_document("../wire.jsonl")
    assert records.read_bytes() == saved and assistant.trashed() == []
    assert {"wire-1", "wire.jsonl"} <= {d.doc for d in assistant.documents()}
    listed = {d.doc: d.removable for d in assistant.documents()}
    assert listed["wire-1"] is False and listed[IWAYA_DOC] is True
    _, _, _, to_remove, _ = ChatApp(assistant, tmp_path / "f.jsonl").document_views()
    assert "wire-1" not in {value for _, value in to_remove.choices} and "2 records" in to_remove.info


# -- a question during an upload ------------------------------------------------------------------


def test_a_question_during_an_upload_is_answered_from_the_previous_index(fake_assistant, held_build):
    started, release = held_build
    with ThreadPoolExecutor(2) as pool:
        upload = pool.submit(fake_assistant.add_document, "festival.md", FESTIVAL)
        assert started.wait(WAIT_S)
        try:  # the build is held open: what does a person asking now see?
            during = pool.submit(fake_assistant.ask, FESTIVAL_QUESTION).result(timeout=WAIT_S)
            iwaya = pool.submit(fake_assistant.ask, IWAYA_QUESTION).result(timeout=WAIT_S)
            listed = {d.doc for d in fake_assistant.documents()}
        finally:
            release.set()
        assert upload.result(timeout=WAIT_S).added == ["festival.md"]
    assert "festival.md" not in cited(during) and "festival.md" not in listed
    assert "Iwaya" in iwaya.answer and IWAYA_DOC in cited(iwaya)
    after = fake_assistant.ask(FESTIVAL_QUESTION)
    assert "48,500" in after.answer and "festival.md" in cited(after)


def test_the_documents_tab_shows_progress_while_questions_are_answered(chat_app, gradio_upload, held_build):
    started, release = held_build
    events = chat_app.add_files([gradio_upload("festival.md", FESTIVAL)])
    try:
        status, *rest = next(events)  # the build is held: a progress line, nothing else changed
        assert "Indexing" in status and "answered from the documents as they were" in status
        assert all(r == gr.skip() for r in rest)
        answer = chat_app.ask_api(IWAYA_QUESTION)
        assert "Iwaya" in answer
    finally:
        release.set()
    status, table, *_ = last(events)
    assert "Added festival.md" in status and "Otaru lantern festival" in table


@pytest.mark.model
@pytest.mark.slow
def test_a_question_during_an_upload_does_not_wait_for_the_real_model(minilm, tmp_path):
    """The real embedder: the build is held after one of its batches, and a question is still answered."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(CORPUS / IWAYA_DOC, tmp_path / "corpus")  # one article: a short first build
    assistant = Assistant(tmp_path / "corpus", tmp_path / "index", embedder=minilm, tagger=NoTagger()).load()
    embedding, release = threading.Event(), threading.Event()

    def hold(stage: str, done: int, total: int) -> None:
        if stage == "embedding" and not embedding.is_set():
            embedding.set()
            release.wait(WAIT_S)

    long_article = FESTIVAL + b"".join(
        f"Volunteer group {n} lit {100 + n} lanterns along the canal on evening {n} of the festival.\n".encode()
        for n in range(1, 60)
    )
    with ThreadPoolExecutor(2) as pool:
        upload = pool.submit(assistant.add_document, "festival.md", long_article, progress=hold)
        assert embedding.wait(WAIT_S), "the build never reported embedding progress"
        try:
            answer = pool.submit(assistant.ask, IWAYA_QUESTION).result(timeout=WAIT_S)
        finally:
            release.set()
        upload.result(timeout=10 * WAIT_S)
    assert "Takeshi Iwaya" in answer.answer and IWAYA_DOC in cited(answer)
    assert "festival.md" in cited(assistant.ask(FESTIVAL_QUESTION))


# -- a question in another language ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("ロシアは2025年にどの日本の外務大臣の入国を禁止しましたか？", "Japanese"),
        ("Какого министра иностранных дел Японии Россия запретила в 2025 году?", "Russian"),
    ],
)
def test_a_question_in_another_language_is_declined_with_the_message(chat_app, fake_assistant, question, language):
    with pytest.raises(QuestionError, match="English questions only") as raised:
        fake_assistant.ask(question)
    assert language in str(raised.value)
    settings = {"k": 5, "mode": "hybrid", "docs": None, "date_from": "", "date_to": ""}
    with pytest.warns(UserWarning, match="English questions only"):
        *_, (box, messages, turns) = chat_app.respond(question, [], *settings.values())
    assert box == question and messages == [] and turns == []
    with pytest.raises(gr.Error, match="English questions only"):
        chat_app.ask_api(question)
    assert IWAYA_DOC in cited(fake_assistant.ask(IWAYA_QUESTION))  # English is still answered


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice values are a Linux feature")
def test_a_background_build_runs_below_the_questions_priority():
    from qa.documents import BUILD_NICENESS, BackgroundJob

    here = os.getpriority(os.PRIO_PROCESS, 0)
    job = BackgroundJob(lambda progress: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert job.result() == min(19, here + BUILD_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, 0) == here  # the rest of the process is untouched
