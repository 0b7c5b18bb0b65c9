"""The Documents tab in a real browser: uploads indexed in the background, and nothing lost.

The app serves a copy of the corpus with the real model, wrapped so that the
test can hold a document change's indexing open: while it is held, the tab
shows its progress and questions are answered from the index as it was.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from gradio.utils import get_upload_folder
from playwright.sync_api import Browser, Locator, Page, expect

from qa import MiniLMEmbedder
from tests.app_server import ARTIFACTS, RunningApp, running_app
from tests.conftest import IWAYA_DOC

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

WAIT_MS = 60_000
IWAYA_QUESTION = "Which Japanese foreign minister did Russia ban in 2025?"
FESTIVAL_NAME = "otaru_lanterns.txt"
FESTIVAL = b"""Otaru lantern festival draws record crowd

date 2026-02-16

The Otaru Snow Light Path festival in Hokkaido drew 48,500 visitors over ten days, organisers said on February 16, 2026.
The festival lines the old canal with thousands of snow lanterns lit by volunteers every evening.
Organisers credited clear weather and new late-night trains from Sapporo for the record attendance.
"""
FEES_NAME = "harbour_fees.txt"
FEES_V1 = (
    b"Harbour fees rise\n\nThe Kushiro harbour fee rises to 12 yen per tonne in April 2026, the port office said.\n"
)
FEES_V2 = b"Harbour fees rise again\n\nThe Kushiro harbour fee rises to 15 yen per tonne in May 2026, the port said.\n"


class HeldEmbedder:
    """The real model; while ``gate`` is clear, encoding more than one text (indexing, not a question) waits."""

    def __init__(self, inner: MiniLMEmbedder):
        self.inner = inner
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens
        self.gate = threading.Event()
        self.gate.set()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:
        if len(texts) > 1:
            self.gate.wait(WAIT_MS / 1000)
        return self.inner.encode(texts, batch_size, progress)


@pytest.fixture(scope="module")
def held(minilm) -> HeldEmbedder:
    return HeldEmbedder(minilm)


@pytest.fixture(scope="module")
def served(held, tmp_path_factory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("documents"), held) as running:
        yield running


@pytest.fixture
def page(browser: Browser, served: RunningApp) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(served.url)
    page.wait_for_selector("#qa-question textarea", timeout=WAIT_MS)
    yield page
    context.close()


def documents_tab(page: Page) -> Locator:
    """Open the Documents tab; return its status line."""
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#qa-doc-table table", timeout=WAIT_MS)
    return page.locator("#qa-doc-status .qa-status")


def send(page: Page, name: str, data: bytes) -> None:
    page.set_input_files(
        "#qa-upload input[type=file]", files=[{"name": name, "mimeType": "text/plain", "buffer": data}]
    )


def ask(page: Page, question: str) -> Locator:
    page.get_by_role("tab", name="Ask").click()
    answers = page.locator("#qa-chat .qa-answer")
    before = answers.count()
    page.fill("#qa-question textarea", question)
    page.keyboard.press("Enter")
    expect(answers).to_have_count(before + 1, timeout=WAIT_MS)
    return answers.nth(before)


def choose(page: Page, picker: str, option: str) -> None:
    page.locator(f"{picker} input").click()
    page.get_by_role("option", name=option).first.click()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def test_an_upload_is_indexed_in_the_background_while_questions_are_answered(page: Page, held: HeldEmbedder):
    status = documents_tab(page)
    held.gate.clear()
    try:
        send(page, FESTIVAL_NAME, FESTIVAL)
        expect(status).to_contain_text(f"Indexing: {FESTIVAL_NAME}", timeout=WAIT_MS)
        expect(status).to_contain_text("Questions are answered from the documents as they were")
        shot(page, "documents-indexing")
        answer = ask(page, IWAYA_QUESTION)  # the indexing is still held open
        expect(answer.locator(".qa-text")).to_contain_text("Takeshi Iwaya")
        festival = ask(page, "How many visitors did the Otaru Snow Light Path festival draw?")
        expect(festival.locator(".qa-source").first).to_be_visible()
        expect(festival).not_to_contain_text(FESTIVAL_NAME)  # not in the index yet
    finally:
        held.gate.set()
    status = documents_tab(page)
    expect(status).to_contain_text(f"Added {FESTIVAL_NAME}", timeout=WAIT_MS)
    answer = ask(page, "How many visitors did the Otaru Snow Light Path festival draw?")
    expect(answer.locator(".qa-text")).to_contain_text("48,500")
    expect(answer.locator(".qa-source .qa-meta").first).to_contain_text(FESTIVAL_NAME)


def test_replace_and_remove_ask_first_and_the_trash_gives_files_back(page: Page, served: RunningApp):
    status, confirm, question = documents_tab(page), page.locator("#qa-confirm"), page.locator("#qa-confirm-question")
    table, file = page.locator("#qa-doc-table"), served.corpus / FEES_NAME
    send(page, FEES_NAME, FEES_V1)
    expect(status).to_contain_text(f"Added {FEES_NAME}", timeout=WAIT_MS)

    send(page, FEES_NAME, FEES_V2)  # the same name: asks first
    expect(question).to_contain_text(f"{FEES_NAME} is already in the collection. Replace it?", timeout=WAIT_MS)
    expect(confirm).to_have_text("Replace")
    shot(page, "documents-replace-asks")
    assert file.read_bytes() == FEES_V1
    confirm.click()
    expect(status).to_contain_text(f"Replaced {FEES_NAME}", timeout=WAIT_MS)
    expect(confirm).to_be_hidden()
    expect(question).to_be_hidden()
    assert file.read_bytes() == FEES_V2

    choose(page, "#qa-remove-choice", f"{FEES_NAME} · Harbour fees rise again")
    page.locator("#qa-remove").click()
    expect(question).to_contain_text(f"Move {FEES_NAME} (Harbour fees rise again) to the trash?", timeout=WAIT_MS)
    expect(confirm).to_have_text("Move to trash")
    shot(page, "documents-remove-asks")
    assert file.exists()
    confirm.click()
    expect(status).to_contain_text(f"Moved {FEES_NAME} to the trash", timeout=WAIT_MS)
    expect(table).not_to_contain_text(FEES_NAME)
    assert not file.exists()

    page.locator("#qa-trash").get_by_text("Trash").click()
    choose(page, "#qa-restore-choice", f"{FEES_NAME} · Harbour fees rise again")  # the removed one, newest first
    shot(page, "documents-trash")
    page.locator("#qa-restore").click()
    expect(status).to_contain_text(f"Restored {FEES_NAME}", timeout=WAIT_MS)
    expect(table).to_contain_text(FEES_NAME)
    assert file.read_bytes() == FEES_V2
    assert not list(Path(get_upload_folder()).rglob(FEES_NAME))  # Gradio's temporary copies are gone


def test_remove_lists_files_by_name_beside_their_title(page: Page):
    documents_tab(page)
    page.locator("#qa-remove-choice input").click()
    expect(page.get_by_role("option", name=f"{IWAYA_DOC} ·")).to_be_visible()
    options = page.get_by_role("option").all_inner_texts()
    assert options and all(" · " in o and o.split(" · ")[0].endswith((".txt", ".md")) for o in options)


def _two_page_pdf() -> bytes:
    """A PDF whose answer is printed on its second page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.set_title("Sapporo budget for snow")
    pdf.add_page()
    for line in PDF_PAGE_ONE:
        pdf.multi_cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.multi_cell(0, 7, PDF_FACT, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


PDF_NAME = "sapporo_snow.pdf"
PDF_PAGE_ONE = [
    "Sapporo receives about six metres of snow in an average winter.",
    "The city clears more than five thousand kilometres of roads after each heavy fall.",
]
PDF_FACT = (
    "The Sapporo city council approved a snow clearing budget of 22.4 billion yen for the winter, "
    "officials said on January 9, 2026."
)


def test_an_uploaded_pdf_is_answered_from_with_its_page_and_its_file_can_be_downloaded(page: Page, served: RunningApp):
    status = documents_tab(page)
    data = _two_page_pdf()
    page.set_input_files(
        "#qa-upload input[type=file]", files=[{"name": PDF_NAME, "mimeType": "application/pdf", "buffer": data}]
    )
    expect(status).to_contain_text(f"Added {PDF_NAME}", timeout=WAIT_MS)
    expect(page.locator("#qa-doc-table")).to_contain_text("Sapporo budget for snow")
    answer = ask(page, "What snow clearing budget did the Sapporo city council approve?")
    expect(answer.locator(".qa-text")).to_contain_text("22.4 billion yen")
    source = answer.locator(".qa-source").first
    expect(source.locator(".qa-meta")).to_contain_text(f"{PDF_NAME} · page 2")
    source.click()
    article = page.locator("#qa-article")
    expect(article).to_contain_text("text extracted from the PDF, 2 pages", timeout=WAIT_MS)
    expect(article.locator(".qa-page-break")).to_have_text("page 2")
    expect(article.locator("mark")).to_contain_text("22.4 billion yen")
    download = page.locator("#qa-download")
    expect(download).to_contain_text(f"Download {PDF_NAME}")
    shot(page, "documents-pdf-answer")
    with page.expect_download(timeout=WAIT_MS) as started:
        download.click()
    assert Path(started.value.path()).read_bytes() == data == (served.corpus / PDF_NAME).read_bytes()
