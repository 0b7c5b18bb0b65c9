"""PDF, HTML and Word files: text, pages and metadata extracted, bad files named and skipped.

Fixtures are written here from the seed articles (``tests/fixture_files.py``);
``tests/data/`` holds real files that nobody here wrote (see its README).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from qa.cleaning import make_document
from qa.corpus import check_upload, load_corpus
from qa.errors import UploadError
from qa.loaders import LoadError, extract, sniff
from tests.conftest import CORPUS, IWAYA_DOC
from tests.fixture_files import write_docx, write_html, write_pdf

DATA = Path(__file__).parent / "data"
IWAYA_TEXT = (CORPUS / IWAYA_DOC).read_text(encoding="utf-8")


def words(text: str) -> list[str]:
    return text.split()


def sentences(text: str) -> list[str]:
    """The article's sentences, whitespace squashed."""
    return [s for line in text.splitlines() for s in re.split(r"(?<=[.!?])\s+", " ".join(line.split())) if s]


def squashed(text: str) -> str:
    return " ".join(text.split())


# -- PDF -------------------------------------------------------------------------------------------


def test_a_pdf_keeps_every_sentence_and_knows_its_pages(tmp_path):
    path = tmp_path / "iwaya.pdf"
    pages = write_pdf(IWAYA_TEXT, path, title="Russia bans nine Japanese", date="2025-03-03", font_size=16)
    assert pages >= 3  # a paragraph runs on from one page to the next
    got = extract("iwaya.pdf", path.read_bytes())
    assert got.kind == "pdf" and len(got.pages) == pages and got.pages[0] == 0
    assert got.title == "Russia bans nine Japanese" and got.date == "2025-03-03"
    assert words(got.text) == words(IWAYA_TEXT)
    flat = squashed(got.text)
    assert all(s in flat for s in sentences(IWAYA_TEXT))
    paragraphs = [squashed(p) for p in IWAYA_TEXT.splitlines() if p.strip()]
    assert [line for line in got.text.splitlines() if line] == paragraphs  # wrapped lines joined, paragraphs kept


def test_page_numbers_are_those_of_the_page_a_sentence_is_printed_on(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    texts = ["The harbour opened in 1901.", "The bridge was rebuilt in 1962.", "The ferry stopped in 2011."]
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    data = pdf.output()
    document = make_document("town.pdf", *_extracted(data))
    for page, text in enumerate(texts, 1):
        start = document.text.index(text)
        assert document.page_range(start, start + len(text)) == (page, page)
    first = document.text.index(texts[0])
    assert document.page_range(first, document.text.index(texts[2]) + 5) == (1, 3)


def _extracted(data: bytes) -> tuple:
    got = extract("x.pdf", bytes(data))
    return got.text, got.title, got.date, "", got.kind, got.pages


def test_a_real_pdf_four_pages_with_its_date(tmp_path):
    got = extract("pdflatex-4-pages.pdf", (DATA / "pdflatex-4-pages.pdf").read_bytes())
    assert len(got.pages) == 4 and got.date == "2022-04-03"
    assert got.text.startswith("Hello, here is some text without a meaning.")
    assert "Huardest gefburn" in got.text


def test_a_real_two_column_pdf_reads_in_column_order_with_hyphens_undone():
    got = extract("multicolumn.pdf", (DATA / "multicolumn.pdf").read_bytes())
    assert len(got.pages) == 3
    assert "Lorem ipsum dolor sit amet, consectetuer adipiscing elit." in got.text
    assert "adip-" not in got.text and "ﬁ" not in got.text and "filled" in got.text


# -- HTML and Word ---------------------------------------------------------------------------------


def test_a_saved_news_page_gives_its_article_without_the_clutter(tmp_path):
    path = tmp_path / "iwaya.html"
    write_html(IWAYA_TEXT, path, title="Russia bans nine Japanese", date="2025-03-03")
    got = extract("iwaya.html", path.read_bytes())
    assert got.kind == "html" and got.title == "Russia bans nine Japanese" and got.date == "2025-03-03"
    flat = squashed(got.text)
    assert all(s in flat for s in sentences(IWAYA_TEXT))
    for clutter in ("cookies", "Subscribe", "Most read", "Celebrity chef", "All rights reserved", "analytics"):
        assert clutter not in got.text


def test_a_real_saved_news_page():
    got = extract("turkey.html", (DATA / "wikimediafoundation-turkey.html").read_bytes())
    assert got.title == "Access to Wikipedia restored in Turkey after more than two and a half years"
    assert got.date == "2020-01-15"
    assert "said Katherine Maher, Executive Director of the Wikimedia Foundation" in got.text
    assert "Cookie statement" not in got.text and "Powered by WordPress" not in got.text


def test_a_word_file_keeps_paragraphs_in_order_and_its_heading_as_a_line(tmp_path):
    path = tmp_path / "iwaya.docx"
    write_docx(IWAYA_TEXT, path, title="Russia bans nine Japanese", date="2025-03-03")
    got = extract("iwaya.docx", path.read_bytes())
    assert got.kind == "docx" and got.title == "Russia bans nine Japanese" and got.date == "2025-03-03"
    lines = got.text.splitlines()
    assert lines[0] == "Russia bans nine Japanese"
    assert lines[1:] == [p.strip() for p in IWAYA_TEXT.splitlines() if p.strip()]


def test_a_word_table_is_read_row_by_row(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("Sanctioned companies:")
    table = document.add_table(rows=2, cols=2)
    for row, (name, country) in zip(table.rows, [("Irkut", "Russia"), ("KamAZ", "Russia")]):
        row.cells[0].text, row.cells[1].text = name, country
    document.add_paragraph("End of list.")
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract("t.docx", buffer.getvalue()).text.splitlines() == [
        "Sanctioned companies:",
        "Irkut | Russia",
        "KamAZ | Russia",
        "End of list.",
    ]


# -- bad files ---------------------------------------------------------------------------------------


def _scanned_pdf() -> bytes:
    """A page with a drawing and no text, as a scanner makes (an image, no text layer)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 150, 200, style="F")
    return bytes(pdf.output())


def _zip_bomb() -> bytes:
    """A .docx whose document.xml unpacks to 120 MB of spaces (it is 120 kB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b" " * 120_000_000)
    return buffer.getvalue()


def _docx_bytes(tmp_path: Path) -> bytes:
    write_docx("A short note about harbour fees in Kushiro.", tmp_path / "n.docx")
    return (tmp_path / "n.docx").read_bytes()


@pytest.fixture
def bad_files(tmp_path) -> dict[str, tuple[bytes, str]]:
    """name -> (content, what its one-line reason must say)."""
    seed = tmp_path / "seed.pdf"
    write_pdf(IWAYA_TEXT, seed)
    return {
        "locked.pdf": ((DATA / "libreoffice-writer-password.pdf").read_bytes(), "encrypted PDF"),
        "cut.pdf": (seed.read_bytes()[:1500], "damaged PDF"),
        "scan.pdf": (_scanned_pdf(), "no text layer in its 1 page(s): needs OCR"),
        "menu.html": (b"<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></body></html>", "no main"),
        "bomb.docx": (_zip_bomb(), "past the 100 MB limit (a zip bomb?)"),
        "report.pdf": (_docx_bytes(tmp_path), "named .pdf but the content is a Word (.docx) file"),
        "letter.docx": (seed.read_bytes(), "named .docx but the content is a PDF"),
        "page.html": (seed.read_bytes(), "named .html but the content is a PDF"),
        "notes.txt": (seed.read_bytes(), "the content is a PDF, not text: give it the name .pdf"),
        "archive.docx": (_plain_zip(), "without word/document.xml"),
    }


def _plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/readme.txt", "not a document")
    return buffer.getvalue()


def test_bad_files_are_skipped_with_a_reason_and_the_rest_is_indexed(tmp_path, bad_files):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, (data, _) in bad_files.items():
        (folder / name).write_bytes(data)
    write_pdf(IWAYA_TEXT, folder / "iwaya.pdf", date="2025-03-03")
    result = load_corpus(folder)
    assert [d.doc for d in result.documents] == ["iwaya.pdf"]
    reasons = dict(result.skipped)
    assert set(reasons) == set(bad_files)
    for name, (_, says) in bad_files.items():
        assert says in reasons[name], name
        assert "\n" not in reasons[name] and len(reasons[name]) < 200


def test_uploads_of_bad_files_are_refused_with_the_same_reasons(bad_files, tmp_path):
    for name, (data, says) in bad_files.items():
        with pytest.raises(UploadError, match=re.escape(says)):
            check_upload(name, data)
    write_pdf(IWAYA_TEXT, tmp_path / "ok.pdf")
    assert check_upload("ok.pdf", (tmp_path / "ok.pdf").read_bytes()).kind == "pdf"


def test_the_format_comes_from_the_content():
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\xef\xbb\xbf<!DOCTYPE html><html>") == "html"
    assert sniff(b"Plain words about <b>bold</b> claims.") == "text"
    with pytest.raises(LoadError, match="not a format that can be read"):
        extract("a.rtf", b"{\\rtf1}")


# -- asking ------------------------------------------------------------------------------------------

IWAYA_QUESTION = "Who was the Japanese foreign minister banned in 2025?"


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pdf", "html", "docx"])
def test_the_iwaya_question_is_answered_and_cited_from_each_format(kind, minilm, tmp_path):
    from qa import Assistant
    from tests.fixture_files import WRITERS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in CORPUS.glob("*.txt"):
        if path.name != IWAYA_DOC:
            (corpus / path.name).write_bytes(path.read_bytes())
    name = IWAYA_DOC.replace(".txt", f".{kind}")
    options = {"font_size": 16} if kind == "pdf" else {}  # three pages
    WRITERS[kind](IWAYA_TEXT, corpus / name, title="Russia bans nine Japanese", date="2025-03-03", **options)
    assistant = Assistant(corpus, tmp_path / "index", embedder=minilm).load()
    answer = assistant.ask(IWAYA_QUESTION)
    assert not answer.abstained and "Takeshi Iwaya" in answer.answer
    first = answer.citations[0]
    assert first.doc == name and first.kind == kind and "Iwaya" in first.sentence
    stored = Path(assistant.text_source(name))
    assert stored.is_file() and stored.is_relative_to(tmp_path / "index")
    for c in answer.citations:
        source = Path(assistant.text_source(c.doc))
        assert source.read_text(encoding="utf-8")[c.start : c.end] == c.text
    if kind == "pdf":
        document = assistant.document(name)
        assert first.pages is not None and len(document.pages) >= 3
        page = first.pages[0]
        start, end = document.pages[page - 1], (document.pages + (len(document.text),))[page]
        assert start <= first.sentence_start and first.sentence_end <= end + 1
    else:
        assert first.pages is None


@pytest.mark.model
@pytest.mark.slow
def test_questions_about_the_real_files_are_answered_from_them(minilm, tmp_path):
    from qa import Assistant

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("wikimediafoundation-turkey.html", "pdflatex-4-pages.pdf", "multicolumn.pdf"):
        (corpus / name).write_bytes((DATA / name).read_bytes())
    assistant = Assistant(corpus, tmp_path / "index", embedder=minilm).load()
    answer = assistant.ask("Who is the Executive Director of the Wikimedia Foundation?")
    assert "Katherine Maher" in answer.answer
    assert answer.citations[0].doc == "wikimediafoundation-turkey.html"
    page = assistant.document("wikimediafoundation-turkey.html")
    assert page.title == "Access to Wikipedia restored in Turkey after more than two and a half years"
    assert page.date == "2020-01-15" and page.kind == "html" and page.author == "Wikimedia Foundation"
    assert [d.pages for d in map(assistant.document, ["pdflatex-4-pages.pdf", "multicolumn.pdf"])] == [
        (0, 3931, 7885, 11839),
        (0, 3439, 6749),
    ] or all(len(assistant.document(n).pages) == p for n, p in [("pdflatex-4-pages.pdf", 4), ("multicolumn.pdf", 3)])


@pytest.mark.model
@pytest.mark.slow
def test_qa_index_names_the_bad_files_and_qa_ask_says_which_text_it_cites(tmp_path, bad_files):
    from tests.test_cli import qa

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for name in ("scan.pdf", "locked.pdf", "bomb.docx"):
        (corpus / name).write_bytes(bad_files[name][0])
    write_pdf(IWAYA_TEXT, corpus / "iwaya.pdf", font_size=16)
    built = qa("index", "--corpus", str(corpus), "--index", str(index))
    lines = built.stderr.splitlines()
    for name in ("scan.pdf", "locked.pdf", "bomb.docx"):
        [line] = [line for line in lines if name in line]  # one line each, said once
        assert line.startswith(f"skipped {name}: ") and bad_files[name][1] in line
    assert "1 added" in built.stdout
    asked = qa("ask", IWAYA_QUESTION, "--corpus", str(corpus), "--index", str(index), "--json")
    cited = json.loads(asked.stdout)["citations"][0]
    assert cited["doc"] == "iwaya.pdf" and cited["kind"] == "pdf" and cited["pages"] == [1, 1]
    text = Path(cited["offsets_in"]).read_text(encoding="utf-8")
    assert Path(cited["offsets_in"]).parent.name == "text" and text[cited["start"] : cited["end"]] == cited["text"]
    shown = qa("ask", IWAYA_QUESTION, "--corpus", str(corpus), "--index", str(index)).stdout
    assert "iwaya.pdf, page 1, characters" in shown
    found = qa("retrieve", "Iwaya", "--corpus", str(corpus), "--index", str(index), "--json").stdout.splitlines()
    first = json.loads(found[0])
    assert first["kind"] == "pdf" and first["pages"][0] >= 1 and first["pages"][1] >= first["pages"][0]


def test_titles_and_dates_come_from_metadata_json_then_the_file_then_the_text(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_pdf(IWAYA_TEXT, folder / "with.pdf", title="Title in the PDF", date="2025-03-04")
    write_pdf(IWAYA_TEXT, folder / "without.pdf")  # no title, no date in its metadata
    write_pdf(IWAYA_TEXT, folder / "named.pdf", title="Title in the PDF", date="2025-03-04")
    (folder / "metadata.json").write_text('{"named.pdf": {"title": "Given title", "date": "2025-03-05"}}', "utf-8")
    found = {d.doc: (d.title, d.date) for d in load_corpus(folder).documents}
    from_text = make_document("x.txt", IWAYA_TEXT)
    assert found == {
        "named.pdf": ("Given title", "2025-03-05"),
        "with.pdf": ("Title in the PDF", "2025-03-04"),
        "without.pdf": (from_text.title, from_text.date),
    }


def test_an_unchanged_pdf_is_read_again_only_when_its_reader_changed(tmp_path, monkeypatch):
    from qa import loaders
    from qa.corpus import Known

    folder = tmp_path / "corpus"
    folder.mkdir()
    write_pdf(IWAYA_TEXT, folder / "iwaya.pdf")
    (folder / "note.txt").write_text("A note about the harbour fees paid by fishing boats.", "utf-8")
    first = load_corpus(folder)
    known = Known(first.stamps, {d.doc: d for d in first.documents})
    assert load_corpus(folder, known=known).cleaned == 0  # both taken from the index
    monkeypatch.setattr(loaders, "version", lambda kind: f"{kind}:99:a-newer-library")
    again = load_corpus(folder, known=known)
    assert again.cleaned == 1 and again.stamps["iwaya.pdf"].sha256.endswith("+pdf:99:a-newer-library")
    assert [d.text for d in again.documents] == [d.text for d in first.documents]


def test_a_library_failing_on_a_strange_file_skips_that_file_only(tmp_path, monkeypatch):
    import pypdf

    def broken(*args, **kwargs):
        raise RuntimeError("an error pypdf did not expect")

    folder = tmp_path / "corpus"
    folder.mkdir()
    write_pdf(IWAYA_TEXT, folder / "strange.pdf")
    monkeypatch.setattr(pypdf, "PdfReader", broken)
    (folder / "note.txt").write_text("A note about the harbour fees paid by fishing boats.", "utf-8")
    result = load_corpus(folder)
    assert [d.doc for d in result.documents] == ["note.txt"]
    assert dict(result.skipped) == {"strange.pdf": "could not be read as a PDF (RuntimeError): save it again"}


def test_documents_of_formats_not_read_are_named_and_other_files_passed_over(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "minutes.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200))
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (folder / "note.txt").write_text("A note about the harbour fees paid by fishing boats.", "utf-8")
    result = load_corpus(folder)
    assert [d.doc for d in result.documents] == ["note.txt"]
    assert result.skipped == [("minutes.doc", "Word 97-2003 files are not read: save it as .docx")]
