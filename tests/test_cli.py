"""The qa command line (and `python app.py`), run as a user runs it: a real process, the real model."""

import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from qa import cli
from qa.accounts import EDITOR, READER, read_accounts, verify_password
from qa.progress import Progress, StageProgress
from tests.app_server import free_port
from tests.conftest import IWAYA_DOC, ROOT

ASK_JSON_FIELDS = {
    "question",
    "answer",
    "short_answer",
    "abstained",
    "citations",
    "closest",
    "retrieved",
    "confidence",
    "latency_ms",
}  # as the README documents them
SHARED_OPTIONS = ("corpus", "index_dir", "store")


def run(command, *args, env=None, check=True, stdin=None):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    proc = subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=300, input=stdin
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def qa(*args, **options):
    return run([sys.executable, "-m", "qa.cli"], *args, **options)


def app_py(*args, **options):
    return run([sys.executable, str(ROOT / "app.py")], *args, **options)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    shutil.copytree(ROOT / "corpus", base / "corpus")
    return base


@pytest.mark.model
def test_ask_json_names_iwaya_with_exact_span(workdir):
    env = {"QA_CORPUS": str(workdir / "corpus"), "QA_INDEX": str(workdir / "index")}
    out = json.loads(
        qa(
            "ask",
            "--json",
            "Which Japanese foreign minister did Russia ban from entering the country in 2025?",
            env=env,
        ).stdout
    )
    assert set(out) == ASK_JSON_FIELDS
    assert "Takeshi Iwaya" in out["answer"] and out["abstained"] is False
    cite = out["citations"][0]
    assert set(cite) >= {"n", "doc", "title", "date", "start", "end", "text", "sentence"}
    assert cite["doc"] == IWAYA_DOC
    file_text = (workdir / "corpus" / IWAYA_DOC).read_bytes().decode("utf-8")
    assert file_text[cite["start"] : cite["end"]] == cite["text"]
    assert cite["sentence"] in cite["text"]
    assert all(set(r) >= {"doc", "chunk_id", "start", "end", "score"} for r in out["retrieved"])


@pytest.mark.model
def test_ask_declines_and_text_output_lists_sources(workdir):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index")]
    declined = json.loads(qa("ask", "--json", "What is the population of the Kuril Islands?", *args).stdout)
    assert declined["abstained"] is True and declined["citations"] == [] and declined["closest"]
    text = qa(
        "ask",
        "--k",
        "3",
        "--mode",
        "keyword",
        "How many Japanese individuals did Russia bar indefinitely in May 2022?",
        *args,
    ).stdout
    assert "63" in text and "Sources:" in text and "002_e8aff1e4ce63da82.txt" in text and ">>>" in text


@pytest.mark.model
def test_index_command_reports_incremental_work(workdir):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index-2"), "--no-progress"]
    first = qa("index", *args)
    assert "5 added" in first.stdout and first.stderr == ""
    (workdir / "corpus" / "extra.txt").write_text("A short extra article on salmon quotas in the Sea of Okhotsk.")
    try:
        out = qa("index", *args).stdout
    finally:
        (workdir / "corpus" / "extra.txt").unlink()
    assert "1 added" in out and "5 unchanged" in out


@pytest.mark.model
def test_index_progress_on_a_pipe_is_a_few_plain_lines(workdir):
    proc = qa("index", "--corpus", str(workdir / "corpus"), "--index", str(workdir / "index-3"))
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr
    assert any(line.startswith("embedding: ") and "(100%)" in line for line in lines), proc.stderr
    assert len(lines) < 40, proc.stderr  # a line per tenth of each stage, not one per item


@pytest.mark.model
def test_chat_keeps_the_conversation_until_new(workdir):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index")]
    follow_up = "How many people were on that list?\n"
    script = "Which Japanese foreign minister did Russia ban in 2025?\n" + follow_up + "new\n" + follow_up + "\n"
    before, after = qa("chat", *args, stdin=script).stdout.split("(new conversation)")
    assert "Takeshi Iwaya" in before and before.count("Sources:") == 2 and "nine" in before
    assert "The documents don't say" in after  # without the conversation, "that list" means nothing


@pytest.mark.model
@pytest.mark.slow
def test_app_py_serves_the_chat_and_answers(workdir):
    """`python app.py` (that is, `qa serve`) builds the index, says where it serves, and answers."""
    from gradio_client import Client

    port = free_port()
    command = [
        sys.executable,
        str(ROOT / "app.py"),
        "--corpus",
        str(workdir / "corpus"),
        "--index",
        str(workdir / "index-app"),
        "--port",
        str(port),
        "--feedback",
        str(workdir / "feedback.jsonl"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(workdir / "app-stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        ready = _first_line(process, timeout=180)
        url = f"http://127.0.0.1:{port}/"
        assert ready.startswith(f"Ready: 5 documents at {url} "), ready
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        assert "Takeshi Iwaya" in Client(url, verbose=False).predict(
            "Which Japanese foreign minister did Russia ban in 2025?", api_name="/ask"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
    log = (workdir / "app-stderr.txt").read_text()
    assert log.startswith(f"Loading the index {workdir / 'index-app'}") and "embedding: " in log


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        pytest.fail(f"no line on stdout within {timeout:.0f} s")


def test_help_everywhere():
    for args in ([], ["index"], ["ask"], ["retrieve"], ["chat"], ["eval"], ["serve"], ["adduser"]):
        out = qa(*args, "--help").stdout
        assert "Usage:" in out
    assert "QA_CORPUS" in qa("ask", "--help").stdout


def test_serve_help_lists_the_shared_options_and_app_py_gives_the_same():
    serve = qa("serve", "--help").stdout
    for option, env in (
        ("--corpus", "QA_CORPUS"),
        ("--index", "QA_INDEX"),
        ("--host", "QA_HOST"),
        ("--port", "QA_PORT"),
        ("--feedback", "QA_FEEDBACK"),
        ("--runs", "QA_RUNS"),
        ("--auth", "QA_AUTH"),
    ):
        assert option in serve and env in serve
    app = app_py("--help").stdout
    assert app.startswith("Usage: app.py serve [OPTIONS]")
    assert app.split("\n", 1)[1] == serve.split("\n", 1)[1]  # everything after the usage line


@pytest.mark.parametrize("command", ["serve", "ask", "chat", "retrieve", "eval", "index"])
def test_corpus_and_index_are_the_same_option_in_every_command(command):
    shared = {p.name: p for p in cli.main.commands["ask"].params if p.name in SHARED_OPTIONS}
    mine = {p.name: p for p in cli.main.commands[command].params if p.name in SHARED_OPTIONS}
    assert mine.keys() == shared.keys()
    for name, option in mine.items():
        assert (option.opts, option.envvar, option.default, option.help) == (
            shared[name].opts,
            shared[name].envvar,
            shared[name].default,
            shared[name].help,
        )


def test_user_errors_are_one_line(tmp_path):
    proc = qa("ask", "hello?", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: corpus not found")
    proc = qa("ask", "hello?", "--mode", "magic", check=False)
    assert proc.returncode == 2 and "magic" in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Who?", "answers": []}\n{"id": "b", "question": \n')
    proc = qa("eval", str(bad), check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {bad}:2: not valid JSON")
    assert proc.stderr.count("\n") == 1


def test_serve_and_app_py_refuse_a_missing_corpus_in_one_line(tmp_path):
    for proc in (
        qa("serve", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i"), check=False),
        app_py("--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i"), check=False),
    ):
        assert proc.returncode == 2 and proc.stdout == ""
        *_, last = proc.stderr.strip().splitlines()
        assert last.startswith("error: corpus not found") and "Traceback" not in proc.stderr


# -- accounts, and where the app may be served ----------------------------------------------------


def test_adduser_reads_the_password_from_stdin_and_sets_roles(tmp_path):
    accounts = tmp_path / "accounts.txt"
    assert qa("adduser", str(accounts), "alice", "--role", "editor", stdin="alice-editor-pw\n").stdout == (
        f"added alice (editor) in {accounts}\n"
    )
    assert "added bob (reader)" in qa("adduser", str(accounts), "bob", stdin="bob-reader-pw\n").stdout
    assert (
        "updated bob (editor)" in qa("adduser", str(accounts), "bob", "--role", "editor", stdin="bob-new-pw1\n").stdout
    )
    table = read_accounts(accounts)
    assert {u: a.role for u, a in table.items()} == {"alice": EDITOR, "bob": EDITOR}
    assert verify_password("bob-new-pw1", table["bob"].password_hash)
    assert "alice-editor-pw" not in accounts.read_text()
    short = qa("adduser", str(accounts), "carol", stdin="short\n", check=False)
    assert short.returncode == 2 and short.stderr.startswith("error: the password is too short")
    assert READER not in {a.role for a in read_accounts(accounts).values()}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0"], "error: not serving on 0.0.0.0 without accounts"),
        (["--host", "192.168.1.20"], "error: not serving on 192.168.1.20 without accounts"),
        (["--auth", "{missing}"], "error: {missing}: no such accounts file: make one with `qa adduser"),
        (["--auth", "{missing}", "--no-auth"], "error: give either --auth FILE or --no-auth, not both"),
    ],
)
def test_serve_refuses_an_open_network_host_and_bad_accounts_in_one_line(tmp_path, args, message):
    missing = str(tmp_path / "accounts.txt")
    args = [a.format(missing=missing) for a in args]
    proc = qa("serve", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "i"), *args, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(message.format(missing=missing)) and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.model
@pytest.mark.slow
def test_serve_with_accounts_on_every_address_lets_only_signed_in_people_in(workdir, tmp_path):
    """`qa serve --host 0.0.0.0 --auth FILE` starts, and nothing but the login answers until one signs in."""
    accounts = tmp_path / "accounts.txt"
    qa("adduser", str(accounts), "bob", stdin="bob-reader-pw\n")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "qa.cli",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--auth",
        str(accounts),
    ]
    command += ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index-auth"), "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert _first_line(process, timeout=180).startswith(f"Ready: 5 documents at http://localhost:{port}/")
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/config", timeout=30)
        assert refused.value.code == 401
        from gradio_client import Client

        answer = Client(url, auth=("bob", "bob-reader-pw"), verbose=False, ssl_verify=False).predict(
            "Which Japanese foreign minister did Russia ban in 2025?", api_name="/ask"
        )
        assert "Takeshi Iwaya" in answer
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert f"Sign-in required: accounts from {accounts}." in (tmp_path / "stderr.txt").read_text()


@pytest.mark.model
def test_eval_writes_its_run_under_the_runs_folder(workdir, tmp_path):
    args = ["--corpus", str(workdir / "corpus"), "--index", str(workdir / "index"), "--no-progress"]
    qa("eval", str(ROOT / "eval" / "dev_conversations.jsonl"), *args, env={"QA_RUNS": str(tmp_path / "runs")})
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "summary.json").is_file() and (run / "report.html").is_file()
    assert cli.runs_folder(None, workdir / "index") == workdir / "runs"  # beside the index when not given
    assert not (workdir / "runs").exists()


# -- progress: a bar on a terminal, a few plain lines anywhere else ------------------------------


def test_progress_on_a_stream_without_a_terminal_writes_a_line_per_tenth():
    stream = io.StringIO()
    with Progress("questions", unit="q", stream=stream) as bar:
        for done in range(1, 101):
            bar(done, 100)
        bar(100, 100)  # the last update repeated writes nothing more
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert len(lines) == 11
    assert lines[0].startswith("questions: 1/100 q (1%)") and lines[-1].startswith("questions: 100/100 q (100%)")


def test_stage_progress_writes_lines_per_stage_and_nothing_when_off():
    stream = io.StringIO()
    with StageProgress(stream=stream) as bar:
        for stage in ("chunking", "embedding"):
            for done in range(1, 21):
                bar(stage, done, 20)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split(":")[0] for line in lines] == ["chunking"] * 11 + ["embedding"] * 11
    silent = io.StringIO()
    with StageProgress(enabled=False, stream=silent) as bar:
        bar("embedding", 1, 2)
    assert silent.getvalue() == ""
