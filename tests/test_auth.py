"""Accounts and roles: the accounts file, its hashes, and a reader kept from changing anything, even over raw HTTP."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import httpx
import pytest

from qa import Assistant, HashEmbedder
from qa.accounts import (
    EDITOR,
    READER,
    Accounts,
    AccountsError,
    add_account,
    hash_password,
    is_loopback,
    read_accounts,
    require_safe_host,
    verify_password,
)
from qa.app import ChatApp, build_app, serve
from qa.app.auth import REFUSED, is_editor, require_editor
from qa.entities import NoTagger
from tests.app_server import free_port
from tests.conftest import CORPUS, IWAYA_DOC

PASSWORDS = {"alice": "alice-editor-pw", "bob": "bob-reader-pw1"}


@dataclass
class FakeRequest:
    """What the role check reads of Gradio's ``gr.Request``."""

    username: str | None


@pytest.fixture
def accounts_file(tmp_path) -> Path:
    path = tmp_path / "accounts.txt"
    add_account(path, "alice", EDITOR, PASSWORDS["alice"])
    add_account(path, "bob", READER, PASSWORDS["bob"])
    return path


# -- hashes -------------------------------------------------------------------------------------


def test_a_hash_is_salted_scrypt_and_checks_only_its_password():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$16384$8$1$") and first != second  # a new salt each time
    assert "correct horse" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horse!", first)
    assert not verify_password("", first)


@pytest.mark.parametrize(
    "stored",
    ["", "plain-text-password", "md5$abc", "scrypt$16384$8$1$notbase64!$AAAA", "scrypt$3$8$1$AAAAAAAAAAA=$" + "A" * 44],
)
def test_a_malformed_hash_never_matches(stored):
    assert not verify_password("anything", stored)


# -- the accounts file --------------------------------------------------------------------------


def test_adduser_writes_one_private_line_per_user_and_updates_in_place(tmp_path):
    path = tmp_path / "accounts.txt"
    path.write_text("# team accounts\n")
    assert add_account(path, "alice", EDITOR, "first-password") is False
    assert add_account(path, "bob", READER, "second-password") is False
    assert add_account(path, "alice", READER, "changed-password") is True
    lines = path.read_text().splitlines()
    assert lines[0] == "# team accounts" and len(lines) == 3
    assert [line.split(":")[:2] for line in lines[1:]] == [["alice", "reader"], ["bob", "reader"]]
    accounts = read_accounts(path)
    assert verify_password("changed-password", accounts["alice"].password_hash)
    assert not verify_password("first-password", accounts["alice"].password_hash)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "user, role, password, message",
    [
        ("alice", EDITOR, "short", "too short"),
        ("al:ice", EDITOR, "long-enough-pw", "cannot be a user name"),
        ("", EDITOR, "long-enough-pw", "cannot be a user name"),
        ("alice bob", EDITOR, "long-enough-pw", "cannot be a user name"),
        ("alice", "admin", "long-enough-pw", "unknown role"),
    ],
)
def test_adduser_refuses_bad_names_roles_and_short_passwords(tmp_path, user, role, password, message):
    path = tmp_path / "accounts.txt"
    with pytest.raises(AccountsError, match=message):
        add_account(path, user, role, password)
    assert not path.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("alice:editor\n", ":1: expected user:role:password-hash"),
        ("# fine\nalice:owner:{hash}\n", ":2: unknown role 'owner'"),
        ("alice:editor:secret\n", ":1: the password hash is not one `qa adduser` writes"),
        ("alice:editor:{hash}\nalice:reader:{hash}\n", ":2: alice has a second line"),
        ("bad name:editor:{hash}\n", ":1: 'bad name' is not a valid user name"),
        ("# nobody yet\n\n", "no accounts: add one with `qa adduser"),
    ],
)
def test_a_bad_accounts_file_is_one_line_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "accounts.txt"
    path.write_text(text.format(hash=hash_password("whatever-pw")))
    with pytest.raises(AccountsError, match=message) as caught:
        read_accounts(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
    if "no accounts" in message:  # nothing damaged: the first account can be added
        assert add_account(path, "carol", READER, "carol-password") is False
        return
    with pytest.raises(AccountsError):  # a damaged file is reported, not rewritten
        add_account(path, "carol", READER, "carol-password")


def test_a_missing_accounts_file_says_how_to_make_one(tmp_path):
    with pytest.raises(AccountsError, match="no such accounts file: make one with `qa adduser"):
        Accounts(tmp_path / "nope.txt")


def test_accounts_give_roles_check_passwords_and_follow_the_file(accounts_file):
    accounts = Accounts(accounts_file)
    assert (accounts.role("alice"), accounts.role("bob"), accounts.role("mallory"), accounts.role(None)) == (
        EDITOR,
        READER,
        None,
        None,
    )
    assert accounts.verify("alice", PASSWORDS["alice"]) and not accounts.verify("alice", PASSWORDS["bob"])
    assert not accounts.verify("mallory", PASSWORDS["alice"])
    # Gradio awaits a coroutine login check, so hashing does not hold up its event loop.
    assert inspect.iscoroutinefunction(accounts.check)
    assert asyncio.run(accounts.check("bob", PASSWORDS["bob"])) is True

    add_account(accounts_file, "bob", EDITOR, "bob-new-password")  # `qa adduser` while the app runs
    assert accounts.role("bob") == EDITOR and accounts.verify("bob", "bob-new-password")
    accounts_file.write_text(accounts_file.read_text() + "carol:reader\n")  # a slip in an edit
    assert accounts.role("alice") == EDITOR  # the accounts read before are kept


# -- where the app may be served open -----------------------------------------------------------


def test_only_loopback_hosts_may_be_served_without_accounts(accounts_file):
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert is_loopback(host)
        require_safe_host(host, None, open_to_network=False)
    for host in ("0.0.0.0", "::", "192.168.1.20", "myhost.example"):
        assert not is_loopback(host)
        with pytest.raises(AccountsError, match="give --auth FILE .* or --no-auth"):
            require_safe_host(host, None, open_to_network=False)
        require_safe_host(host, None, open_to_network=True)
        require_safe_host(host, Accounts(accounts_file), open_to_network=False)


# -- the role check the handlers make -----------------------------------------------------------


def test_require_editor_lets_editors_through_and_stops_everyone_else(accounts_file):
    accounts = Accounts(accounts_file)
    require_editor(FakeRequest("alice"), accounts)
    require_editor(FakeRequest(None), None)  # no accounts: served on this machine, everyone may
    require_editor(None, None)
    for request, who in (
        (FakeRequest("bob"), "bob is a reader"),
        (FakeRequest("mallory"), "not signed in"),
        (None, "not signed in"),
    ):
        assert not is_editor(request, accounts)
        with pytest.raises(gr.Error) as caught:
            require_editor(request, accounts)
        assert caught.value.message.startswith(REFUSED) and who in caught.value.message
        assert "\n" not in caught.value.message


def test_a_reader_cannot_evaluate_and_nothing_is_written(fake_assistant, accounts_file, tmp_path):
    app = ChatApp(fake_assistant, tmp_path / "feedback.jsonl", tmp_path / "runs", Accounts(accounts_file))
    with pytest.raises(gr.Error, match="bob is a reader"):
        app.evaluate("Dev questions (35)", None, 5, "hybrid", request=FakeRequest("bob"))
    assert not (tmp_path / "runs").exists()


# -- the served app, called as an attacker would: raw HTTP to Gradio's queue ----------------------


@dataclass(frozen=True)
class Served:
    url: str
    corpus: Path
    runs: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """The app with accounts (the fake embedder: these checks need no real answers)."""
    base = tmp_path_factory.mktemp("auth")
    shutil.copytree(CORPUS, base / "corpus")
    add_account(base / "accounts.txt", "alice", EDITOR, PASSWORDS["alice"])
    add_account(base / "accounts.txt", "bob", READER, PASSWORDS["bob"])
    accounts = Accounts(base / "accounts.txt")
    assistant = Assistant(base / "corpus", base / "index", embedder=HashEmbedder(), tagger=NoTagger()).load()
    demo = build_app(assistant, base / "feedback.jsonl", base / "runs", accounts=accounts)
    _, url, _ = serve(demo, "127.0.0.1", free_port(), accounts=accounts, prevent_thread_lock=True, quiet=True)
    try:
        yield Served(url.rstrip("/"), base / "corpus", base / "runs")
    finally:
        demo.close()


@contextmanager
def signed_in(served: Served, user: str) -> Iterator[httpx.Client]:
    """An HTTP client holding ``user``'s login cookie, as a browser would after signing in."""
    with httpx.Client(base_url=served.url, timeout=60) as http:
        response = http.post("/login", data={"username": user, "password": PASSWORDS[user]})
        assert response.status_code == 200, response.text
        yield http


def event_index(config: dict, elem_id: str, trigger: str) -> int:
    """The index of the event ``trigger`` of the component with ``elem_id``, as the page sends it."""
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    return next(d["id"] for d in config["dependencies"] if [component, trigger] in d["targets"])


def send_event(http: httpx.Client, fn_index: int, data: list, session: str | None = None) -> dict:
    """Join the queue with ``data`` for event ``fn_index`` in ``session`` (a new one by default) and return its
    last message. State inputs are kept by the server per session: whatever is sent for them is not used."""
    session = session or uuid.uuid4().hex
    joined = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session})
    assert joined.status_code == 200, joined.text
    last: dict = {}
    with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
                last = message
    return last


def upload_file(http: httpx.Client, name: str, text: str) -> dict:
    """Put a file in Gradio's upload folder, as the page does before it sends the upload event."""
    response = http.post("/gradio_api/upload", files={"files": (name, text.encode(), "text/plain")})
    assert response.status_code == 200, response.text
    return {"path": response.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def assert_refused(message: dict) -> None:
    assert message.get("success") is False, message
    assert REFUSED in json.dumps(message), message


@pytest.mark.slow
def test_without_signing_in_nothing_can_be_called(served):
    with httpx.Client(base_url=served.url, timeout=60) as http:
        config = http.get("/config")
        assert config.status_code == 401
        joined = http.post(
            "/gradio_api/queue/join", json={"data": ["hi", 5, "hybrid"], "fn_index": 0, "session_hash": "x"}
        )
        assert joined.status_code == 401
        assert http.post("/login", data={"username": "bob", "password": "wrong-password"}).status_code == 400


@pytest.mark.slow
def test_a_reader_can_ask_through_the_api(served):
    from gradio_client import Client

    answer = Client(served.url, auth=("bob", PASSWORDS["bob"]), verbose=False, ssl_verify=False).predict(
        "Which Japanese foreign minister did Russia ban in 2025?", api_name="/ask"
    )
    assert isinstance(answer, str) and answer


@pytest.mark.slow
def test_a_reader_cannot_evaluate_over_raw_http(served):
    with signed_in(served, "bob") as http:
        config = http.get("/config").json()
        message = send_event(
            http, event_index(config, "qa-eval-run", "click"), ["Dev questions (35)", None, 5, "hybrid"]
        )
    assert_refused(message)
    assert not served.runs.exists()


@pytest.mark.slow
def test_a_reader_cannot_upload_over_raw_http(served):
    with signed_in(served, "bob") as http:
        config = http.get("/config").json()
        file = upload_file(http, "planted.txt", "Planted title\n\nA reader tried to add this article to the archive.")
        message = send_event(http, event_index(config, "qa-upload", "upload"), [[file]])
    assert_refused(message)
    assert not (served.corpus / "planted.txt").exists()


def opened_page(http: httpx.Client, config: dict, session: str) -> dict:
    """What a page gets on opening (the documents and trash pickers filled); returns the trash picker's update."""
    pickers = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "qa-restore-choice")
    load = next(
        d
        for d in config["dependencies"]
        if d["targets"][:1] and d["targets"][0][1] == "load" and pickers in d["outputs"]
    )
    message = send_event(http, load["id"], [], session)
    assert message.get("success") is True, message
    return message["output"]["data"][load["outputs"].index(pickers)]


@pytest.mark.slow
def test_a_reader_cannot_remove_or_restore_over_raw_http(served):
    other = "002_e8aff1e4ce63da82.txt"
    with signed_in(served, "alice") as http:  # an editor removes a document, as the page does it
        config = http.get("/config").json()
        session = uuid.uuid4().hex
        opened_page(http, config, session)
        send_event(http, event_index(config, "qa-remove", "click"), [IWAYA_DOC], session)
        assert send_event(http, event_index(config, "qa-confirm", "click"), [None], session).get("success") is True
    assert not (served.corpus / IWAYA_DOC).exists()
    before = sorted(os.listdir(served.corpus))
    with signed_in(served, "bob") as http:
        session = uuid.uuid4().hex
        trash = opened_page(http, config, session)["choices"]
        assert len(trash) == 1
        assert_refused(send_event(http, event_index(config, "qa-remove", "click"), [other], session))
        assert_refused(send_event(http, event_index(config, "qa-confirm", "click"), [None], session))
        assert_refused(send_event(http, event_index(config, "qa-restore", "click"), [trash[0][1]], session))
    assert sorted(os.listdir(served.corpus)) == before


@pytest.mark.slow
def test_an_editor_may_evaluate(served):
    with signed_in(served, "alice") as http:
        config = http.get("/config").json()
        message = send_event(
            http, event_index(config, "qa-eval-run", "click"), ["Dev conversations (3)", None, 5, "hybrid"]
        )
    assert message.get("success") is True, message
    assert served.runs.is_dir()


def test_repeated_wrong_passwords_pause_that_user_name_only(accounts_file):
    from qa.accounts import FAILURE_WINDOW, MAX_FAILURES

    now = [1000.0]
    accounts = Accounts(accounts_file, clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        assert not accounts.verify("alice", "a guess")
    assert accounts.paused("alice")
    assert not accounts.verify("alice", PASSWORDS["alice"])  # even the right password, for now
    assert accounts.verify("bob", PASSWORDS["bob"])  # other users sign in as usual
    now[0] += FAILURE_WINDOW + 1
    assert not accounts.paused("alice") and accounts.verify("alice", PASSWORDS["alice"])
    # a success clears the count: fewer than MAX_FAILURES new guesses do not pause the name
    for _ in range(MAX_FAILURES - 1):
        assert not accounts.verify("alice", "a guess")
    assert accounts.verify("alice", PASSWORDS["alice"])
