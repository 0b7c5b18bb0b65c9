"""The qa command line, run as a user runs it (a real process, the real model)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import IWAYA_DOC, ROOT


def qa(*args, env=None, check=True, stdin=None):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=300, input=stdin)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import shutil

    base = tmp_path_factory.mktemp("cli")
    shutil.copytree(ROOT / "corpus", base / "corpus")
    return base


@pytest.mark.model
def test_ask_json_names_iwaya_with_exact_span(workdir):
    env = {"QA_CORPUS": str(workdir / "corpus"), "QA_INDEX": str(workdir / "index")}
    out = json.loads(qa("ask", "--json", "Which Japanese foreign minister did Russia ban from entering the "
                        "country in 2025?", env=env).stdout)
    assert set(out) >= {"question", "answer", "short_answer", "abstained", "citations", "retrieved", "latency_ms"}
    assert "Takeshi Iwaya" in out["answer"] and out["abstained"] is False
    cite = out["citations"][0]
    assert set(cite) >= {"n", "doc", "title", "date", "start", "end", "text"}
    assert cite["doc"] == IWAYA_DOC
    file_text = (workdir / "corpus" / IWAYA_DOC).read_bytes().decode("utf-8")
    assert file_text[cite["start"]:cite["end"]] == cite["text"]
    assert all(set(r) >= {"doc", "chunk_id", "start", "end", "score"} for r in out["retrieved"])


@pytest.mark.model
def test_ask_declines_and_text_output_lists_sources(workdir):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index")]
    declined = json.loads(qa("ask", "--json", "What is the population of the Kuril Islands?", *args).stdout)
    assert declined["abstained"] is True and declined["citations"] == []
    text = qa("ask", "--k", "3", "--mode", "keyword", "How many Japanese individuals did Russia bar indefinitely "
              "in May 2022?", *args).stdout
    assert "63" in text and "Sources:" in text and "002_e8aff1e4ce63da82.txt" in text and ">>>" in text


@pytest.mark.model
def test_index_command_reports_incremental_work(workdir):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index-2"), "--no-progress"]
    assert "5 added" in qa("index", *args).stdout
    (workdir / "corpus" / "extra.txt").write_text("A short extra article on salmon quotas in the Sea of Okhotsk.")
    try:
        out = qa("index", *args).stdout
    finally:
        (workdir / "corpus" / "extra.txt").unlink()
    assert "1 added" in out and "5 unchanged" in out


@pytest.mark.model
def test_chat_keeps_the_conversation_until_new(workdir):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index")]
    follow_up = "How many people were on that list?\n"
    script = "Which Japanese foreign minister did Russia ban in 2025?\n" + follow_up + "new\n" + follow_up + "\n"
    before, after = qa("chat", *args, stdin=script).stdout.split("(new conversation)")
    assert "Takeshi Iwaya" in before and before.count("Sources:") == 2 and "nine" in before
    assert "The documents don't say" in after  # without the conversation, "that list" means nothing


def test_help_everywhere():
    for args in ([], ["index"], ["ask"], ["retrieve"], ["chat"], ["eval"]):
        out = qa(*args, "--help").stdout
        assert "Usage:" in out
    assert "QA_CORPUS" in qa("ask", "--help").stdout


def test_user_errors_are_one_line(tmp_path):
    proc = qa("ask", "hello?", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: corpus not found")
    proc = qa("ask", "hello?", "--mode", "magic", check=False)
    assert proc.returncode == 2 and "magic" in proc.stderr
