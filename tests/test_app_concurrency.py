"""People asking at once through the app's API each get their own, correct answer, the one a single client
gets; every way of asking shares one pool of workers sized to the machine. (Throughput: benchmarks/load.py.)"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from qa.app import build_app, serve
from tests.app_server import free_port, running_app
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


def test_every_way_of_asking_shares_one_pool_sized_to_the_machine(fake_assistant, tmp_path):
    demo = build_app(fake_assistant, tmp_path / "feedback.jsonl")
    asking = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") in ("respond", "ask_api")]
    assert len(asking) == 4  # Enter, the Ask button, an example question, the /ask API
    assert {(f.concurrency_id, f.concurrency_limit) for f in asking} == {("questions", "default")}
    serve(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert demo._queue.default_concurrency_limit == len(os.sched_getaffinity(0))
    finally:
        demo.close()


@pytest.mark.model
@pytest.mark.slow
def test_twenty_clients_at_once_get_the_answers_one_client_gets(served, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from gradio_client import Client

    lines = (EVAL / "dev_questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines][:10]
    alone = Client(served.url, verbose=False, ssl_verify=False)
    expected = {q: alone.predict(q, api_name="/ask") for q in questions}
    clients = 20
    start = threading.Barrier(clients)

    def ask_three(c: int) -> list[tuple[str, str]]:
        client = Client(served.url, verbose=False, ssl_verify=False)
        start.wait(timeout=120)
        mine = [questions[(c + j) % len(questions)] for j in range(3)]
        return [(q, client.predict(q, api_name="/ask")) for q in mine]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        answers = [pair for pairs in pool.map(ask_three, range(clients)) for pair in pairs]
    assert len(answers) == 3 * clients
    changed = [q for q, answer in answers if answer != expected[q]]
    assert changed == []
