"""The app's event handlers without a browser: the five articles with the fake embedder (fast, no torch)."""

from __future__ import annotations

import html
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from qa import Assistant, Turn
from qa.accounts import READER, Accounts, add_account
from qa.app import ChatApp
from tests.conftest import IWAYA_DOC

IWAYA_QUESTION = "Which Japanese foreign minister did Russia ban in 2025?"


class RecordingAssistant:
    """The real assistant, remembering the history each question was asked with."""

    def __init__(self, inner: Assistant):
        self.inner = inner
        self.histories: list[tuple[Turn, ...]] = []

    def ask(self, question, history=(), **options):
        self.histories.append(tuple(history))
        return self.inner.ask(question, history=history, **options)


@pytest.fixture
def chat_app(fake_assistant, tmp_path) -> ChatApp:
    return ChatApp(fake_assistant, tmp_path / "feedback.jsonl")


@pytest.fixture
def gradio_upload(tmp_path, monkeypatch):
    """Make files where Gradio puts uploads (its temporary folder, here under tmp_path)."""
    folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))

    def make(name: str, data: bytes | str) -> str:
        path = folder / uuid.uuid4().hex / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    return make


def respond(chat_app: ChatApp, question: str, turns: list[Turn], **options) -> list[tuple]:
    settings = {"k": 5, "mode": "hybrid", "docs": None, "date_from": "", "date_to": ""} | options
    return list(chat_app.respond(question, turns, *settings.values()))


def last(events) -> tuple:
    """What a Documents-tab handler shows once it is done (it may stream progress lines first)."""
    *_, final = events
    return final


def test_respond_shows_the_question_first_then_the_cited_answer(chat_app):
    first, last = respond(chat_app, IWAYA_QUESTION, [])
    assert first[0] == "" and "qa-pending" in first[1][-1]["content"]
    box, messages, turns = last
    assert box == "" and len(messages) == 2 and len(turns) == 1
    assert "Iwaya" in turns[0].answer.answer
    assert IWAYA_DOC in messages[1]["content"]


def test_follow_ups_are_asked_with_the_conversation(fake_assistant, tmp_path):
    recorder = RecordingAssistant(fake_assistant)
    chat_app = ChatApp(recorder, tmp_path / "feedback.jsonl")
    *_, (_, _, turns) = respond(chat_app, IWAYA_QUESTION, [])
    *_, (_, messages, turns) = respond(chat_app, "How many people were on that list?", turns)
    assert [t.question for t in recorder.histories[1]] == [IWAYA_QUESTION]
    assert recorder.histories[1][0].answer is turns[0].answer
    assert len(messages) == 4


def test_a_bad_option_warns_in_one_line_and_keeps_the_question(chat_app):
    with pytest.warns(UserWarning, match="not a date"):
        *_, (box, messages, turns) = respond(chat_app, IWAYA_QUESTION, [], date_from="last spring")
    assert box == IWAYA_QUESTION and messages == [] and turns == []


def test_restricting_to_documents_cites_only_those(chat_app):
    only = "002_e8aff1e4ce63da82.txt"
    *_, (_, _, turns) = respond(chat_app, IWAYA_QUESTION, [], docs=[only])
    answer = turns[0].answer
    assert {c.doc for c in answer.citations + answer.closest} <= {only}


def test_open_source_shows_the_article_or_says_it_is_gone(chat_app, fake_assistant):
    *_, (_, _, turns) = respond(chat_app, IWAYA_QUESTION, [])
    html, download = chat_app.open_source("0:c:1", turns)
    assert 'id="qa-passage"' in html and "<mark>" in html
    cited = turns[0].answer.citations[0].doc
    assert download.visible is True and download.label == f"Download {cited}"
    assert Path(download.value["path"]).read_bytes() == (fake_assistant.corpus / cited).read_bytes()
    fake_assistant.remove_document(cited)
    html, download = chat_app.open_source("0:c:1", turns)
    assert "removed from the collection" in html and download.visible is False
    assert "no longer in this chat" in chat_app.open_source("3:c:1", turns)[0]


def test_binary_and_path_trick_uploads_change_nothing(chat_app, fake_assistant, gradio_upload, tmp_path):
    before = sorted(p.name for p in fake_assistant.corpus.iterdir())
    binary = gradio_upload("scan.txt", b"\x00\x01PNG" * 10)
    trick = gradio_upload("..notes.txt", b"plain text")
    status, *_ = last(chat_app.add_files([binary, trick]))
    shown = html.unescape(status)
    assert "qa-bad" in status and "Not added: scan.txt: binary file" in shown
    assert "Not added: ..notes.txt: give a plain file name" in shown and "'" not in shown  # named once, unquoted
    assert sorted(p.name for p in fake_assistant.corpus.iterdir()) == before
    assert not (tmp_path / "notes.txt").exists()
    assert not Path(binary).exists() and not Path(trick).parent.exists()  # Gradio's copies are deleted too


def test_upload_remove_with_confirmation_and_restore(chat_app, fake_assistant, gradio_upload):
    upload = gradio_upload("festival.md", "# Otaru festival news\n\nThe Otaru snow festival drew 48,500 visitors.\n")
    status, table, *_ = last(chat_app.add_files([upload]))
    assert "Added festival.md" in status and "Otaru festival news" in table
    assert not Path(upload).exists()
    *_, pending, box, question, button = chat_app.ask_remove("festival.md")
    assert "Move festival.md (Otaru festival news) to the trash?" in question
    assert box.visible is True and button.value == "Move to trash" and pending.doc == "festival.md"
    assert (fake_assistant.corpus / "festival.md").exists()  # nothing happens before the confirmation
    status, table, _, to_remove, to_restore, _, pending, box, question, _ = last(chat_app.confirm(pending))
    assert "Moved festival.md to the trash" in status and "Otaru festival news" not in table
    assert pending is None and box.visible is False and question == ""
    assert "festival.md" not in {value for _, value in to_remove.choices}
    [(label, trash_id)] = to_restore.choices
    assert label.startswith("festival.md · Otaru festival news (removed ")
    status, table, *_ = last(chat_app.restore(trash_id))
    assert "Restored festival.md" in status and "Otaru festival news" in table


def test_remove_lists_files_by_name_and_can_be_cancelled(chat_app, fake_assistant):
    _, _, _, to_remove, _ = chat_app.document_views()
    assert (f"{IWAYA_DOC} · {fake_assistant.document(IWAYA_DOC).title}", IWAYA_DOC) in to_remove.choices
    *_, pending, _, _, _ = chat_app.ask_remove(IWAYA_DOC)
    status, *_, pending, box, _, _ = chat_app.cancel(pending)
    assert f"Kept the current {IWAYA_DOC}" in status and pending is None and box.visible is False
    assert (fake_assistant.corpus / IWAYA_DOC).exists()


def test_a_reader_cannot_change_the_documents(fake_assistant, gradio_upload, tmp_path):
    add_account(tmp_path / "accounts.txt", "bob", READER, "a long enough password")
    chat_app = ChatApp(fake_assistant, tmp_path / "feedback.jsonl", accounts=Accounts(tmp_path / "accounts.txt"))
    bob = SimpleNamespace(username="bob")  # what Gradio's request says of who sent it
    before = sorted(p.name for p in fake_assistant.corpus.iterdir())
    upload = gradio_upload("festival.md", "Otaru festival news\n\nThe festival drew 48,500 visitors.\n")
    attempts = (
        lambda: list(chat_app.add_files([upload], bob)),
        lambda: chat_app.ask_remove(IWAYA_DOC, bob),
        lambda: list(chat_app.confirm(("remove", IWAYA_DOC), bob)),
        lambda: list(chat_app.restore("20260101T000000000000-abcd", bob)),
    )
    for attempt in attempts:
        with pytest.raises(gr.Error, match="Only an editor"):
            attempt()
    assert sorted(p.name for p in fake_assistant.corpus.iterdir()) == before
    assert not Path(upload).exists()  # even a refused upload leaves no copy behind


def test_thumbs_down_appends_one_line_and_a_withdrawn_rating_none(chat_app, tmp_path):
    *_, (_, _, turns) = respond(chat_app, IWAYA_QUESTION, [])
    path = tmp_path / "feedback.jsonl"
    chat_app.rate(turns, str(path), gr.LikeData(None, {"index": 1, "value": [], "liked": False}))
    chat_app.rate(turns, str(path), gr.LikeData(None, {"index": 1, "value": [], "liked": ""}))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["rating"] == "down" and record["question"] == IWAYA_QUESTION
    assert record["citations"][0]["doc"] == IWAYA_DOC


def test_feedback_to_a_bad_path_warns_and_writes_nothing(chat_app, tmp_path):
    *_, (_, _, turns) = respond(chat_app, IWAYA_QUESTION, [])
    with pytest.warns(UserWarning, match="Feedback not saved"):
        chat_app.rate(turns, str(tmp_path / "notes.txt"), gr.LikeData(None, {"index": 1, "value": [], "liked": True}))
    assert not (tmp_path / "notes.txt").exists()


def test_the_api_answers_with_markers_and_refuses_empty_questions(chat_app):
    assert "[1]" in chat_app.ask_api(IWAYA_QUESTION)
    with pytest.raises(gr.Error, match="empty question"):
        chat_app.ask_api("   ")


def test_feedback_outside_the_feedback_folder_is_refused(chat_app, tmp_path):
    *_, (_, _, turns) = respond(chat_app, IWAYA_QUESTION, [])
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    with pytest.warns(UserWarning, match="must be in"):
        chat_app.rate(turns, str(elsewhere / "x.jsonl"), gr.LikeData(None, {"index": 1, "value": [], "liked": True}))
    assert not (elsewhere / "x.jsonl").exists()


class BrokenAssistant:
    """An assistant failing the way a bug would, with details a person should not see."""

    def ask(self, question, history=(), **options):
        raise RuntimeError("faiss: /srv/secret/index.faiss is corrupt")


def test_an_unexpected_failure_shows_an_apology_and_logs_the_details(tmp_path, caplog):
    chat_app = ChatApp(BrokenAssistant(), tmp_path / "feedback.jsonl")
    with pytest.warns(UserWarning, match="Something went wrong") as warned:
        *_, (box, messages, turns) = respond(chat_app, IWAYA_QUESTION, [])
    assert all("secret" not in str(w.message) for w in warned)
    assert box == IWAYA_QUESTION and messages == [] and turns == []
    with pytest.raises(gr.Error, match="Something went wrong") as raised:
        chat_app.ask_api(IWAYA_QUESTION)
    assert "secret" not in str(raised.value)
    assert "/srv/secret/index.faiss is corrupt" in caplog.text


def test_pdf_and_word_uploads_are_added_and_unreadable_ones_refused_with_their_reason(
    chat_app, fake_assistant, gradio_upload, tmp_path
):
    from fpdf import FPDF

    from tests.fixture_files import write_docx

    scanned = FPDF()
    scanned.add_page()
    scanned.rect(20, 20, 150, 200, style="F")
    readable = FPDF()
    readable.set_font("Helvetica", size=12)
    readable.add_page()
    readable.multi_cell(0, 7, "The Kushiro harbour fee rises to 12 yen per tonne in April 2026, the port office said.")
    write_docx("The Otaru canal walk reopens in May after repairs to its stone path.", tmp_path / "canal.docx")
    files = [
        gradio_upload("scan.pdf", bytes(scanned.output())),
        gradio_upload("fees.pdf", bytes(readable.output())),
        gradio_upload("canal.docx", (tmp_path / "canal.docx").read_bytes()),
        gradio_upload("renamed.pdf", b"just some words pretending to be a PDF"),
    ]
    status, table, *_ = last(chat_app.add_files(files))
    shown = html.unescape(status)
    assert "Not added: scan.pdf: no text layer in its 1 page(s): needs OCR (a scanned PDF)" in shown
    assert "Not added: renamed.pdf: named .pdf but the content is text" in shown
    assert "fees.pdf" in table and "canal.docx" in table
    assert {"fees.pdf", "canal.docx"} <= {p.name for p in fake_assistant.corpus.iterdir()}
    assert not {"scan.pdf", "renamed.pdf"} & {p.name for p in fake_assistant.corpus.iterdir()}
