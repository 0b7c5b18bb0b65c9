"""The app's event handlers without a browser: the five articles with the fake embedder (fast, no torch)."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from qa import Assistant, Turn
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


def respond(chat_app: ChatApp, question: str, turns: list[Turn], **options) -> list[tuple]:
    settings = {"k": 5, "mode": "hybrid", "docs": None, "date_from": "", "date_to": ""} | options
    return list(chat_app.respond(question, turns, *settings.values()))


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
    html = chat_app.open_source("0:c:1", turns)
    assert 'id="qa-passage"' in html and "<mark>" in html
    fake_assistant.remove_document(turns[0].answer.citations[0].doc)
    assert "removed from the collection" in chat_app.open_source("0:c:1", turns)
    assert "no longer in this chat" in chat_app.open_source("3:c:1", turns)


def test_binary_and_path_trick_uploads_change_nothing(chat_app, fake_assistant, tmp_path):
    before = sorted(p.name for p in fake_assistant.corpus.iterdir())
    binary = tmp_path / "up1" / "scan.txt"
    trick = tmp_path / "up2" / "..notes.txt"
    for path, data in ((binary, b"\x00\x01PNG" * 10), (trick, b"plain text")):
        path.parent.mkdir()
        path.write_bytes(data)
    status, *_ = chat_app.add_files([str(binary), str(trick)])
    assert "qa-bad" in status and "binary file" in status and "..notes.txt" in status
    assert sorted(p.name for p in fake_assistant.corpus.iterdir()) == before
    assert not (tmp_path / "notes.txt").exists()


def test_upload_then_remove_a_document(chat_app, fake_assistant, tmp_path):
    upload = tmp_path / "upload" / "festival.md"
    upload.parent.mkdir()
    upload.write_text("# Otaru festival news\n\nThe Otaru snow festival drew 48,500 visitors in February 2026.\n")
    status, table, *_ = chat_app.add_files([str(upload)])
    assert "Added festival.md" in status and "Otaru festival news" in table
    assert "festival.md" in {d.doc for d in fake_assistant.documents()}
    status, table, *_ = chat_app.remove("festival.md")
    assert "Removed festival.md" in status and "Otaru festival news" not in table
    assert not (fake_assistant.corpus / "festival.md").exists()


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
