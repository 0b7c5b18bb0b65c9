"""Loading and cleaning: titles, dates, boilerplate, bad files, JSON Lines, metadata overrides."""

import json
import logging
import os

import pytest

from qa.cleaning import make_document
from qa.corpus import CorpusError, check_upload, load_corpus
from tests.conftest import CORPUS


def body(doc):
    return "\n".join(doc.text[s:e] for s, e in doc.segments)


@pytest.fixture(scope="module")
def seeds():
    result = load_corpus(CORPUS)
    assert result.skipped == []
    return {d.doc: d for d in result.documents}


def test_seed_titles_and_dates(seeds):
    assert len(seeds) == 5
    iwaya = seeds["000_a07452a012145e1e.txt"]
    assert iwaya.date == "2025-03-03"  # "on March 3, 2025" near the top
    assert iwaya.title.startswith("Russia permanently bans nine Japanese citizens")
    assert seeds["002_e8aff1e4ce63da82.txt"].date == "2022-05-04"  # the stray "date 2022-05-04" prefix
    epoch = seeds["003_56745e45d85cd26e.txt"]
    assert epoch.title == "Japan Unleashes More Sanctions on Russia Amid Canceled Peace Treaty Talks"
    assert epoch.date == "2022-03-25"  # "3/25/2022", not the photo caption's "Nov. 1, 2021"
    assert seeds["004_a36ece77d1e60406.txt"].title == "How the war in Ukraine has reshaped Russia–Japan ties"
    for doc in seeds.values():
        assert not doc.title.endswith(".txt") and len(doc.title) > 10


def test_scraping_leftovers_are_not_body(seeds):
    text = "\n".join(body(d) for d in seeds.values())
    for leftover in (
        "You must log in to post a comment",
        "Unlock premium news",
        ".jpg)",
        "date 2022-05-04",
        "Aldgra Fredly",
        "Updated:",
        "Pool Photo via AP",
    ):
        assert leftover not in text
    assert body(seeds["002_e8aff1e4ce63da82.txt"]).startswith("Russia announced on May 4")
    # the repeated headline is gone, but the article text is all there
    assert "freeze the assets of 25 more Russian individuals" in body(seeds["003_56745e45d85cd26e.txt"])


def test_segments_point_into_the_original_text(seeds):
    raw = (CORPUS / "002_e8aff1e4ce63da82.txt").read_bytes().decode("utf-8")
    doc = seeds["002_e8aff1e4ce63da82.txt"]
    assert doc.text == raw
    for s, e in doc.segments:
        assert 0 <= s < e <= len(raw) and raw[s:e] == raw[s:e].strip()


def test_general_rules_on_another_scraped_page():
    page = (
        "BREAKING: Port strike ends after two weeks\n"
        "By Jane Doe\n"
        "Published: 12 June 2024\n"
        "![harbour](https://example.com/harbour.png)\n"
        "Dock workers returned on Monday after a deal on wages was signed by both unions.\n"
        "Sign up for our newsletter\n"
        "The agreement raises pay by 6% over three years.\n"
        "Advertisement\n"
        "Share this article\n"
    )
    doc = make_document("port.txt", page)
    assert doc.title == "Port strike ends after two weeks"
    assert doc.date == "2024-06-12"
    text = body(doc)
    assert "Dock workers returned" in text and "raises pay by 6%" in text
    for junk in ("newsletter", "Advertisement", "Share this", "harbour.png", "Jane Doe"):
        assert junk not in text


def test_untitled_text_gets_a_readable_title():
    doc = make_document(
        "a1b2c3d4e5f6.txt",
        "The council approved the new budget on Tuesday after a long debate "
        "about school funding and road repairs in the northern districts.",
    )
    assert doc.title.startswith("The council approved the new budget")
    assert doc.title.endswith("…") and "a1b2c3" not in doc.title
    assert doc.date is None


def test_bad_files_are_skipped_and_named(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="qa.corpus")
    (tmp_path / "good.txt").write_text("A real article about trade talks between two countries.", "utf-8")
    (tmp_path / "empty.txt").write_text("   \n", "utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "latin1.md").write_bytes("Caf\xe9 society".encode("latin-1"))
    (tmp_path / "huge.txt").write_text("word " * 300_000, "utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    result = load_corpus(tmp_path, max_bytes=1_000_000)
    assert [d.doc for d in result.documents] == ["good.txt"]
    reasons = dict(result.skipped)
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.md", "huge.txt", "notes.pdf"}
    assert "damaged PDF" in reasons["notes.pdf"]
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.md"]
    assert "limit" in reasons["huge.txt"]
    assert "skipped binary.txt" in caplog.text


def test_jsonl_corpus_and_bad_records(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            [
                json.dumps({"id": "p1", "title": "Rivers", "text": "The Nile is the longest river in Africa."}),
                "{not json",
                json.dumps({"id": "p2", "title": "Mountains", "text": ""}),
                json.dumps({"id": "p3", "title": "Deserts", "text": "The Sahara is a hot desert."}),
            ]
        ),
        "utf-8",
    )
    result = load_corpus(corpus)
    assert [(d.doc, d.title) for d in result.documents] == [("p1", "Rivers"), ("p3", "Deserts")]
    assert [name for name, _ in result.skipped] == ["corpus.jsonl:2", "corpus.jsonl:3"]


def test_metadata_file_overrides_title_and_date(corpus_copy):
    (corpus_copy / "metadata.json").write_text(
        json.dumps({"001_bcd9096a39a7080e.txt": {"title": "Japan expands its Russia blacklist", "date": "2023-01-27"}})
    )
    docs = {d.doc: d for d in load_corpus(corpus_copy).documents}
    assert docs["001_bcd9096a39a7080e.txt"].title == "Japan expands its Russia blacklist"
    assert docs["001_bcd9096a39a7080e.txt"].date == "2023-01-27"
    assert "metadata.json" not in docs


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="corpus not found"):
        load_corpus(tmp_path / "nowhere")


def test_upload_checks():
    assert check_upload("a.md", b"# Title\n\nText").text == "# Title\n\nText"
    with pytest.raises(ValueError, match="only .txt, .md, .pdf, .html, .htm and .docx"):
        check_upload("a.exe", b"MZ")
    with pytest.raises(ValueError, match="binary"):
        check_upload("a.txt", b"\x00\x01\x02")
    with pytest.raises(ValueError, match="the content is a PDF, not text: give it the name .pdf"):
        check_upload("a.txt", b"%PDF-1.7\n...")


def test_files_are_walked_in_name_order_and_each_document_knows_its_source(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "inner.txt").write_text("An article in a subfolder about rail freight prices.", "utf-8")
    (tmp_path / "a.txt").write_text("An article about harbour dues paid by fishing boats.", "utf-8")
    (tmp_path / "b.txt").write_text("An article about the price of rice in northern towns.", "utf-8")
    (tmp_path / ".hidden.txt").write_text("A hidden file is never read.", "utf-8")
    records = [{"id": "r1", "text": "A record about wind farms."}, {"id": "r2", "text": "A record about tides."}]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records), "utf-8")
    result = load_corpus(tmp_path)
    assert [d.doc for d in result.documents] == ["a.txt", "b/inner.txt", "b.txt", "r1", "r2"]
    assert result.sources == {
        "a.txt": "a.txt",
        "b/inner.txt": "b/inner.txt",
        "b.txt": "b.txt",
        "r1": "c.jsonl:1",
        "r2": "c.jsonl:2",
    }
    assert result.skipped == []


def test_a_pipe_in_the_corpus_folder_is_not_opened(tmp_path):
    (tmp_path / "a.txt").write_text("An article about harbour dues paid by fishing boats.", "utf-8")
    os.mkfifo(tmp_path / "pipe.txt")  # opening it to read would wait for a writer forever
    assert [d.doc for d in load_corpus(tmp_path).documents] == ["a.txt"]


def test_a_byte_order_mark_is_kept_in_the_text_but_not_in_title_or_body():
    text = "\ufeffPort strike ends after two weeks\nDock workers returned on Monday after a deal was signed.\n"
    doc = make_document("port.txt", text)
    assert doc.text == text  # offsets count the mark, as in the file decoded as UTF-8
    assert doc.title == "Port strike ends after two weeks"
    assert all(s > 0 for s, _ in doc.segments) and "\ufeff" not in body(doc)
    assert make_document("x.txt", "\ufeffOne line.", title="\ufeffGiven title").title == "Given title"
    only = make_document("y.txt", "\ufeffplain words with no sentence end")
    assert only.segments[0][0] == 1 and "\ufeff" not in only.title
    with pytest.raises(ValueError, match="empty"):
        check_upload("empty.txt", b"\xef\xbb\xbf  \n")
