"""The app served with accounts, in a real browser: signing in, what each role sees, and document text shown as text.

The app runs with the fake embedder (signing in needs no real answers) on a
copy of the corpus plus one article holding a ``$$…$$`` formula.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from qa import Assistant, HashEmbedder
from qa.accounts import EDITOR, READER, Accounts, add_account
from qa.app import build_app, serve
from qa.entities import NoTagger
from tests.app_server import ARTIFACTS, free_port
from tests.conftest import CORPUS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 60_000
PASSWORDS = {"alice": "alice-editor-pw", "bob": "bob-reader-pw1"}
FORMULA = "$$E = mc^2$$"
FORMULA_ARTICLE = f"""Sapporo school opens its physics lessons to parents

date 2026-01-22

The Sapporo physics teacher wrote the formula {FORMULA} on the board during the open lesson in January 2026.
Parents then measured the speed of a falling ball with the pupils.
"""


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("login")
    shutil.copytree(CORPUS, base / "corpus")
    (base / "corpus" / "physics_lesson.txt").write_text(FORMULA_ARTICLE, encoding="utf-8")
    add_account(base / "accounts.txt", "alice", EDITOR, PASSWORDS["alice"])
    add_account(base / "accounts.txt", "bob", READER, PASSWORDS["bob"])
    accounts = Accounts(base / "accounts.txt")
    assistant = Assistant(base / "corpus", base / "index", embedder=HashEmbedder(), tagger=NoTagger()).load()
    demo = build_app(assistant, base / "feedback.jsonl", base / "runs", accounts=accounts)
    _, local_url, _ = serve(demo, "127.0.0.1", free_port(), accounts=accounts, prevent_thread_lock=True, quiet=True)
    try:
        yield local_url
    finally:
        demo.close()


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(url)
    yield page
    context.close()


def sign_in(page: Page, user: str, password: str) -> None:
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=Path(ARTIFACTS) / f"{name}.png")


def test_a_wrong_password_is_refused_and_an_editor_signs_in_to_every_tab(page: Page):
    sign_in(page, "alice", "not-her-password")
    expect(page.get_by_text("Incorrect Credentials", exact=False)).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#qa-question").count() == 0
    shot(page, "login-refused")
    sign_in(page, "alice", PASSWORDS["alice"])
    expect(page.locator("#qa-question textarea")).to_be_visible(timeout=WAIT_MS)
    for tab in ("Ask", "Documents", "Evaluate"):
        expect(page.get_by_role("tab", name=tab, exact=True)).to_be_enabled()
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#qa-eval-run")).to_be_visible()
    shot(page, "login-editor")


def test_a_reader_signs_in_asks_and_cannot_open_the_evaluate_tab(page: Page):
    sign_in(page, "bob", PASSWORDS["bob"])
    expect(page.locator("#qa-question textarea")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("tab", name="Ask")).to_be_visible()
    evaluate = page.get_by_role("tab", name="Evaluate (editors only)")
    expect(evaluate).to_be_disabled(timeout=WAIT_MS)
    page.fill("#qa-question textarea", "What formula did the Sapporo physics teacher write on the board?")
    page.keyboard.press("Enter")
    reply = page.locator("#qa-chat .qa-answer").first
    expect(reply).to_be_visible(timeout=WAIT_MS)
    shot(page, "login-reader")


def test_a_formula_in_a_document_is_shown_as_written_not_typeset(page: Page):
    sign_in(page, "bob", PASSWORDS["bob"])
    page.fill("#qa-question textarea", "What formula did the Sapporo physics teacher write on the board?")
    page.keyboard.press("Enter")
    source = page.locator("#qa-chat .qa-source", has_text="physics_lesson.txt").first
    expect(source).to_contain_text(FORMULA, timeout=WAIT_MS)
    assert page.locator("#qa-chat .katex, #qa-chat math").count() == 0
    shot(page, "formula-as-text")
