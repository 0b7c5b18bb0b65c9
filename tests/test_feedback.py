"""qa.feedback: one JSON line per rating, in the answer's own record shape, appended safely, bad paths refused."""

from __future__ import annotations

import threading

import pytest

from qa.errors import FeedbackError
from qa.feedback import append_feedback, read_feedback
from qa.records import Citation
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
