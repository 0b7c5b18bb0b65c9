"""The app in a real browser (Debian's chromium driven by Playwright), checked as a person would use it.

Each test opens its own page, so its own session: a fresh chat. The app, its
corpus copy and index live in a temporary folder for the whole module.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.app_server import ARTIFACTS, RunningApp, running_app
from tests.conftest import IWAYA_DOC

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

ANSWER_WAIT_MS = 60_000
IWAYA_QUESTION = "Which Japanese foreign minister did Russia ban in 2025?"

NEW_ARTICLE = """Otaru lantern festival draws record crowd

date 2026-02-16

The Otaru Snow Light Path festival in Hokkaido drew 48,500 visitors over ten days, organisers said on February 16, 2026.
The festival lines the old canal with thousands of snow lanterns lit by volunteers every evening.
Organisers credited clear weather and new late-night trains from Sapporo for the record attendance.
"""
HOSTILE_ARTICLE = """<script>alert('title')</script> Harbour notice <img src=x onerror="alert(1)">

date 2026-01-20

The Kushiro harbour office said its pier <script>window.__xss = 1; alert(2)</script> opens to ferries in April 2026.
Engineers tested the pier with <img src=x onerror="window.__xss = 2; alert(3)"> loads of 900 tonnes before approving it.
"""


@pytest.fixture(scope="module")
def served(minilm, tmp_path_factory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("browser"), minilm) as running:
        yield running


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, served: RunningApp, dialogs: list[str]) -> Iterator[Page]:
    """A fresh session on the app; every dialog (alert, confirm) it opens is recorded and dismissed."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(served.url)
    page.wait_for_selector("#qa-question textarea", timeout=ANSWER_WAIT_MS)
    yield page
    context.close()


def ask(page: Page, question: str) -> Locator:
    """Type a question, send it, and return the answer message once it is shown."""
    answers = page.locator("#qa-chat .qa-answer")
    before = answers.count()
    page.fill("#qa-question textarea", question)
    page.keyboard.press("Enter")
    expect(answers).to_have_count(before + 1, timeout=ANSWER_WAIT_MS)
    return answers.nth(before)


def upload(page: Page, name: str, data: bytes) -> Locator:
    """Upload one file in the Documents tab and return the status line once it speaks of it."""
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#qa-doc-table table", timeout=ANSWER_WAIT_MS)
    page.set_input_files(
        "#qa-upload input[type=file]", files=[{"name": name, "mimeType": "text/plain", "buffer": data}]
    )
    status = page.locator("#qa-doc-status .qa-status")
    expect(status).to_contain_text(name, timeout=ANSWER_WAIT_MS)
    expect(status).not_to_contain_text("Indexing", timeout=ANSWER_WAIT_MS)  # indexing runs in the background
    return status


def shot(page: Page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # let the last update's fade-in finish
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=full_page)


def test_answer_names_iwaya_and_cites_the_march_2025_article(page: Page):
    answer = ask(page, IWAYA_QUESTION)
    expect(answer.locator(".qa-text")).to_contain_text("Takeshi Iwaya")
    expect(answer.locator(".qa-cite").first).to_have_text("[1]")
    source = answer.locator(".qa-source", has_text=IWAYA_DOC).first
    expect(source.locator(".qa-meta")).to_contain_text("2025-03-03")
    expect(source.locator("mark")).to_contain_text("Iwaya")
    expect(answer).not_to_have_class("qa-answer qa-abstained")
    shot(page, "1-answer")


def test_an_example_question_starts_the_chat(page: Page):
    page.locator("#qa-chat").get_by_text("Which Japanese foreign minister did Russia ban in 2025?").click()
    answer = page.locator("#qa-chat .qa-answer").first
    expect(answer.locator(".qa-text")).to_contain_text("Takeshi Iwaya", timeout=ANSWER_WAIT_MS)


def test_clicking_a_source_shows_the_article_around_the_passage(page: Page):
    answer = ask(page, IWAYA_QUESTION)
    source = answer.locator(".qa-source", has_text=IWAYA_DOC).first
    sentence = source.locator("mark").inner_text()
    source.click()
    article = page.locator("#qa-article")
    mark = article.locator("#qa-passage mark")
    expect(mark).to_have_text(sentence, timeout=ANSWER_WAIT_MS)
    expect(article.locator(".qa-meta")).to_contain_text(IWAYA_DOC)
    expect(article).to_contain_text("Isuzu Motors")  # the article's own text beyond the cited sentence
    expect(mark).to_be_in_viewport()
    shot(page, "2-article")
    page.locator("#qa-new-chat").click()  # a marker opens the article too, from a fresh chat
    expect(page.locator("#qa-chat .qa-answer")).to_have_count(0)
    expect(page.locator("#qa-article mark")).to_have_count(0)
    ask(page, IWAYA_QUESTION).locator(".qa-cite").first.click()
    expect(page.locator("#qa-article .qa-meta")).to_contain_text(IWAYA_DOC, timeout=ANSWER_WAIT_MS)


def test_follow_up_question_uses_the_conversation(page: Page):
    ask(page, IWAYA_QUESTION)
    follow_up = ask(page, "How many people were on that list?")
    shot(page, "3-follow-up")
    expect(follow_up.locator(".qa-text")).to_contain_text("nine")


def test_unanswerable_question_says_the_documents_dont_say(page: Page):
    reply = ask(page, "What is the population of the Kuril Islands?")
    expect(reply).to_have_class("qa-answer qa-abstained")
    expect(reply.locator(".qa-text")).to_contain_text("The documents don't say")
    expect(reply.locator(".qa-sources-label")).to_have_text("Closest matches")
    expect(reply.locator(".qa-source").first).to_be_visible()
    page.wait_for_timeout(300)  # let the chat's own scroll to the bottom finish, then show the reply's top
    reply.evaluate("element => element.scrollIntoView({block: 'start'})")
    shot(page, "4-abstained")


def test_uploaded_article_is_answerable_at_once_and_cited(page: Page, served: RunningApp):
    status = upload(page, "otaru_festival.txt", NEW_ARTICLE.encode())
    expect(status).to_contain_text("Added otaru_festival.txt")
    expect(page.locator("#qa-doc-table")).to_contain_text("Otaru lantern festival draws record crowd")
    shot(page, "5-documents")
    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "How many visitors did the Otaru Snow Light Path festival draw?")
    expect(answer.locator(".qa-text")).to_contain_text("48,500")
    expect(answer.locator(".qa-source .qa-meta").first).to_contain_text("otaru_festival.txt")


def test_binary_upload_is_refused_and_changes_nothing(page: Page, served: RunningApp):
    files_before = sorted(p.name for p in served.corpus.iterdir())
    docs_before = served.assistant.documents()
    status = upload(page, "scan.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    expect(status).to_have_class("qa-status qa-bad")
    expect(status).to_contain_text("binary file")
    shot(page, "5-binary-refused")
    assert sorted(p.name for p in served.corpus.iterdir()) == files_before
    assert served.assistant.documents() == docs_before


def test_document_html_is_shown_as_text_and_runs_nothing(page: Page, dialogs: list[str]):
    status = upload(page, "harbour_notice.md", HOSTILE_ARTICLE.encode())
    expect(status).to_contain_text("Added harbour_notice.md")
    expect(page.locator("#qa-doc-table")).to_contain_text("<script>alert('title')</script>")
    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "When will the Kushiro pier open to ferries?")
    source = answer.locator(".qa-source", has_text="harbour_notice.md").first
    expect(source).to_contain_text("<script>")
    source.click()
    expect(page.locator("#qa-article")).to_contain_text('onerror="window.__xss = 2; alert(3)"', timeout=ANSWER_WAIT_MS)
    page.wait_for_timeout(1000)  # give any injected handler the chance to fire
    shot(page, "6-html-as-text")
    assert page.locator("#qa-article img, #qa-chat img, #qa-doc-table img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_removing_a_document_asks_then_moves_it_to_the_trash(page: Page, served: RunningApp):
    upload(page, "short_lived.txt", b"Short lived notice about harbour fees\n\nThe harbour fee rises to 12 yen.\n")
    status = page.locator("#qa-doc-status .qa-status")
    expect(status).to_contain_text("Added short_lived.txt", timeout=ANSWER_WAIT_MS)
    page.locator("#qa-remove-choice input").click()
    page.get_by_role("option", name="short_lived.txt · Short lived notice about harbour fees").click()
    page.locator("#qa-remove").click()
    expect(page.locator("#qa-confirm-question")).to_contain_text("Move short_lived.txt", timeout=ANSWER_WAIT_MS)
    assert (served.corpus / "short_lived.txt").exists()  # nothing happens before the confirmation
    page.locator("#qa-confirm").click()
    expect(status).to_contain_text("Moved short_lived.txt to the trash", timeout=ANSWER_WAIT_MS)
    expect(page.locator("#qa-doc-table")).not_to_contain_text("short_lived.txt")
    assert not (served.corpus / "short_lived.txt").exists()
    assert served.assistant.trashed()[0].name == "short_lived.txt"


def test_options_restrict_the_answer_to_chosen_documents(page: Page):
    only = "002_e8aff1e4ce63da82.txt"
    page.locator("#qa-options").get_by_text("Options").click()
    page.locator("#qa-only-docs input").click()
    page.get_by_role("option", name="Russia announced on May 4").click()
    page.keyboard.press("Escape")
    answer = ask(page, IWAYA_QUESTION)
    shot(page, "options-restricted")
    metas = answer.locator(".qa-source .qa-meta")
    expect(metas.first).to_be_visible()
    assert all(only in text for text in metas.all_inner_texts())


def test_thumbs_down_appends_one_feedback_line(page: Page, served: RunningApp):
    lines_before = _feedback_lines(served.feedback)
    ask(page, IWAYA_QUESTION)
    page.locator("#qa-chat button[aria-label='Dislike']").last.click()
    deadline = time.monotonic() + 30
    while len(_feedback_lines(served.feedback)) == len(lines_before) and time.monotonic() < deadline:
        time.sleep(0.2)
    new = _feedback_lines(served.feedback)[len(lines_before) :]
    assert len(new) == 1
    record = json.loads(new[0])
    assert record["rating"] == "down"
    assert record["question"] == IWAYA_QUESTION
    assert "Takeshi Iwaya" in record["answer"]
    assert any(c["doc"] == IWAYA_DOC for c in record["citations"])
    assert record["time"]


def test_narrow_window_has_no_sideways_scrolling(page: Page):
    page.set_viewport_size({"width": 390, "height": 844})
    answer = ask(page, IWAYA_QUESTION)
    expect(answer.locator(".qa-source").first).to_be_visible()
    shot(page, "narrow")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _feedback_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
