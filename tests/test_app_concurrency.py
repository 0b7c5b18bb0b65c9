"""Five people asking at once through the app's API each get their own, correct answer."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app_server import running_app
from tests.conftest import EVAL

QUESTION_IDS = ("d01", "d18", "d21", "d22", "d17")


@pytest.fixture(scope="module")
def served(minilm, tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("concurrency"), minilm) as running:
        yield running


def dev_questions() -> dict[str, dict]:
    lines = (EVAL / "dev_questions.jsonl").read_text(encoding="utf-8").splitlines()
    return {q["id"]: q for q in map(json.loads, lines) if q["id"] in QUESTION_IDS}


@pytest.mark.model
@pytest.mark.slow
def test_five_concurrent_clients_get_their_own_answers(served, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from gradio_client import Client

    questions = dev_questions()
    assert sorted(questions) == sorted(QUESTION_IDS)
    start = threading.Barrier(len(questions))

    def ask(qid: str) -> tuple[str, str]:
        client = Client(served.url, verbose=False)
        start.wait(timeout=120)  # every client connected: now all ask at the same moment
        return qid, client.predict(questions[qid]["question"], api_name="/ask")

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        answers = dict(pool.map(ask, questions))

    for qid, answer in answers.items():
        expected = questions[qid]["answers"]
        assert any(a.lower() in answer.lower() for a in expected), f"{qid}: {answer!r} lacks any of {expected}"
        assert "[1]" in answer, f"{qid}: no citation marker in {answer!r}"
    assert len(set(answers.values())) == len(answers), "two clients got the same answer"
