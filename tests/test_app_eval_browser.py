"""The Evaluate tab in a real browser: upload the dev question set, see the figures and the report."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.app_server import ARTIFACTS, RunningApp, running_app
from tests.conftest import EVAL

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

EVAL_WAIT_MS = 180_000


@pytest.fixture(scope="module")
def served(minilm, tmp_path_factory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("eval-app"), minilm) as running:
        yield running


@pytest.fixture
def page(browser: Browser, served: RunningApp) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(served.url)
    page.get_by_role("tab", name="Evaluate").click()
    page.wait_for_selector("#qa-eval-run", timeout=60_000)
    yield page
    context.close()


def figure(page: Page, name: str) -> float:
    card = page.locator(".qa-card", has=page.locator("span", has_text=re.compile(rf"^{re.escape(name)}$")))
    return float(card.locator("b").inner_text())


def test_uploaded_dev_set_shows_figures_misses_and_report(page: Page, served: RunningApp):
    page.set_input_files("#qa-eval-upload input[type=file]", str(EVAL / "dev_questions.jsonl"))
    page.click("#qa-eval-run")
    expect(page.locator("#qa-eval-figures .qa-card").first).to_be_visible(timeout=EVAL_WAIT_MS)
    expect(page.locator("#qa-eval-figures")).to_contain_text("35 questions")
    assert figure(page, "answer_hit") >= 0.85
    assert figure(page, "evidence_cited") >= 0.85  # with the threshold chosen on SQuAD train (issue 8)
    expect(page.locator("#qa-eval-misses")).to_contain_text("Misses")
    expect(page.locator('#qa-eval-files a[href$="/report.html"]')).to_have_count(1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "7-evaluate.png", full_page=True)
    runs = list((served.corpus.parent / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.html").exists() and (runs[0] / "results.jsonl").exists()


def test_a_malformed_question_file_names_its_line(page: Page, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Who?", "answers": []}\n{"id": "b", "question": \n')
    page.set_input_files("#qa-eval-upload input[type=file]", str(bad))
    page.click("#qa-eval-run")
    status = page.locator("#qa-eval-figures .qa-status")
    expect(status).to_contain_text("Not evaluated: bad.jsonl:2: not valid JSON", timeout=60_000)
