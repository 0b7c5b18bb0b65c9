"""qa.feedback: one JSON line per rating, in the answer's own record shape, appended safely, bad paths refused
(by the library and by the app's thumbs, in one line)."""

from __future__ import annotations

import logging
import threading

import gradio as gr
import pytest

from qa.app import ChatApp
from qa.errors import FeedbackError
from qa.feedback import append_feedback, read_feedback
from qa.records import Citation, Turn
from tests.conftest import IWAYA_DOC


@pytest.fixture
def answer(fake_assistant):
    return fake_assistant.ask("Which Japanese foreign minister did Russia ban in 2025?")


def test_a_rating_is_one_line_with_the_question_answer_and_cited_spans(answer, tmp_path):
    path = tmp_path / "feedback.jsonl"
    append_feedback(path, "down", answer, earlier_questions=[])
    (record,) = read_feedback(path)
    assert record["rating"] == "down"
    assert record["question"] == answer.question and record["answer"] == answer.answer
    cited = record["citations"][0]
    assert cited["doc"] == IWAYA_DOC and cited["sentence"] == answer.citations[0].sentence
    assert record["time"].endswith("+00:00") and record["earlier_questions"] == []


def test_a_record_is_the_answer_as_ask_json_prints_it_and_reads_back(answer, tmp_path):
    path = tmp_path / "feedback.jsonl"
    append_feedback(path, "up", answer)
    (record,) = read_feedback(path)
    assert {k: v for k, v in record.items() if k not in ("time", "rating")} == answer.to_dict()
    assert tuple(Citation.from_dict(c) for c in record["citations"]) == answer.citations


def test_threads_append_whole_lines(answer, tmp_path):
    path = tmp_path / "feedback.jsonl"
    threads = [threading.Thread(target=append_feedback, args=(path, "up", answer)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(read_feedback(path)) == 20


@pytest.mark.parametrize(
    "name, rating, message",
    [
        ("feedback.txt", "up", "must end in .jsonl"),
        ("missing/feedback.jsonl", "up", "no such folder"),
        ("feedback.jsonl", "meh", "unknown rating"),
        ("folder.jsonl", "up", "not a file"),
    ],
)
def test_bad_paths_and_ratings_write_nothing(answer, tmp_path, name, rating, message):
    if name == "folder.jsonl":
        (tmp_path / name).mkdir()
    with pytest.raises(FeedbackError, match=message):
        append_feedback(tmp_path / name, rating, answer)
    assert not (tmp_path / name).is_file()


@pytest.mark.parametrize("name", ["feed\x00back.jsonl", "feedback.jsonl\x00.txt", "feed\nback.jsonl"])
def test_a_nul_or_control_character_in_the_path_is_refused_in_one_line(answer, tmp_path, name):
    with pytest.raises(FeedbackError, match="control characters") as caught:
        append_feedback(tmp_path / name, "up", answer)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.glob("feed*"))


def test_the_app_says_in_one_line_why_a_rating_with_a_nul_in_its_file_was_not_saved(
    fake_assistant, answer, tmp_path, caplog
):
    app = ChatApp(fake_assistant, tmp_path / "feedback.jsonl")
    turns = [Turn(answer.question, answer)]
    liked = gr.LikeData(None, {"index": 1, "value": "", "liked": True})
    with caplog.at_level(logging.ERROR), pytest.warns(UserWarning, match="Feedback not saved: .*control character"):
        app.rate(turns, str(tmp_path / "feed\x00back.jsonl"), liked)
    assert "unexpected error" not in caplog.text  # a refusal, not a crash logged with its traceback
    assert not list(tmp_path.glob("feed*"))
