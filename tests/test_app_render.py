"""The app's HTML: every string from a document or a person is escaped; markers and keys link the right source;
an answer is rendered once; no LaTeX; a long question is not echoed whole; evaluation runs go where they should."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from qa import Answer, Citation, Document, DocumentInfo, Filter, Turn
from qa.app import ChatApp, build_app, render
from qa.app.handlers import chat_messages, find_citation, make_filter

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"
TEXT = f"Title {EVIL}\n\nThe pier opens in April. Engineers tested it {EVIL} with 900 tonnes. Ferries follow."


def _tags(html: str) -> set[str]:
    return {t.lower() for t in re.findall(r"<\s*([a-zA-Z]+)", html)}


def _safe(html: str) -> None:
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;" in html


def citation(n: int = 1, doc: str = f"evil{EVIL}.txt", title: str = f"Harbour {EVIL}") -> Citation:
    start = TEXT.index("The pier")
    end = len(TEXT)
    s_start = TEXT.index("Engineers")
    s_end = TEXT.index("Ferries") - 1
    return Citation(
        n=n,
        doc=doc,
        title=title,
        date="2026-01-20",
        chunk_id="c1",
        start=start,
        end=end,
        text=TEXT[start:end],
        sentence_start=s_start,
        sentence_end=s_end,
    )


def answer(abstained: bool = False) -> Answer:
    c = citation()
    text = "The documents don't say this." if abstained else f"Engineers tested it {EVIL} with 900 tonnes. [1]"
    return Answer(
        question=f"When {EVIL}?",
        answer=text,
        short_answer=None,
        abstained=abstained,
        citations=() if abstained else (c,),
        retrieved=(),
        latency_ms=1.0,
        closest=(c,) if abstained else (),
    )


def document() -> Document:
    return Document(
        doc=f"evil{EVIL}.txt",
        title=f"Harbour {EVIL}",
        date=None,
        text=TEXT,
        segments=((0, len(TEXT)),),
        content_hash="h",
    )


def test_answer_html_escapes_answer_title_file_and_passage():
    html = render.answer_html(answer(), turn=0)
    _safe(html)
    assert _tags(html) <= {"div", "button", "span", "mark"}
    assert "<mark>Engineers tested it &lt;script&gt;" in html


def test_markers_become_buttons_only_for_real_citations():
    html = render.answer_html(replace(answer(), answer="Claim. [1] Other [7]"), turn=3)
    assert 'class="qa-cite" value="3:c:1"' in html
    assert "[7]" in html and 'value="3:c:7"' not in html


def test_abstained_reply_has_its_own_style_and_lists_closest_matches():
    html = render.answer_html(answer(abstained=True), turn=2)
    _safe(html)
    assert "qa-abstained" in html and "Closest matches" in html
    assert 'value="2:x:1"' in html and "<mark>" not in html


def test_article_html_escapes_and_marks_the_sentence_inside_the_passage():
    html = render.article_html(document(), citation())
    _safe(html)
    assert _tags(html) <= {"div", "span", "mark"}
    passage = html[html.index('<span id="qa-passage"') :]
    assert passage.index("<mark>") < passage.index("</mark>") < passage.index("</span>")
    assert "<mark>Engineers tested it &lt;script&gt;" in html


def test_article_html_drops_the_mark_when_the_article_changed():
    changed = replace(document(), text="Rewritten. " + TEXT)
    html = render.article_html(changed, citation())
    _safe(html)
    assert "<mark>" not in html and "changed since the answer" in html


def test_documents_table_and_messages_escape_everything():
    info = DocumentInfo(doc=f"evil{EVIL}.txt", title=f"Harbour {EVIL}", date=None, chunks=2, chars=10)
    for html in (
        render.documents_table([info]),
        render.question_html(EVIL),
        render.error_html(EVIL),
        render.status_html(EVIL, ok=False),
        render.article_message(EVIL),
    ):
        _safe(html)
    assert "undated" in render.documents_table([info])


def test_source_keys_round_trip_and_reject_anything_else():
    assert render.parse_source_key(render.source_key(4, render.CLOSEST, 2)) == (4, "x", 2)
    for bad in ("", "1:c", "1:z:2", "a:c:1", "1:c:1;alert(1)"):
        with pytest.raises(ValueError):
            render.parse_source_key(bad)


def test_chat_messages_pair_each_question_with_its_answer():
    turns = [Turn("first?", answer()), Turn("second?", answer(abstained=True))]
    messages = chat_messages(turns)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert 'value="1:x:1"' in messages[3]["content"]  # message i belongs to turn i // 2


def test_find_citation_follows_the_key_and_tolerates_stale_ones():
    turns = [Turn("q", answer()), Turn("q2", answer(abstained=True))]
    assert find_citation(turns, "0:c:1") == citation()
    assert find_citation(turns, "1:x:1") == citation()
    for stale in ("0:c:2", "5:c:1", "0:x:1", "junk"):
        assert find_citation(turns, stale) is None


def test_make_filter_reads_the_options():
    assert make_filter(None, "", " ") is None
    assert make_filter(["a.txt"], "2022", "2022-05-31") == Filter(
        docs=frozenset({"a.txt"}), date_from="2022", date_to="2022-05-31"
    )
    with pytest.raises(ValueError, match="not a date"):
        make_filter([], "March 2022", "")


def test_an_answer_is_rendered_once_however_often_the_chat_is_shown():
    a = answer()
    first = render.answer_html(a, 0)
    assert render.answer_html(a, 0) is first
    assert render.answer_html(replace(a), 0) is first  # an equal answer (a frozen record) is the same message
    assert 'value="1:c:1"' in render.answer_html(a, 1) and 'value="1:c:1"' not in first  # the turn is in the key
    turns = [Turn("q", a), Turn("q2", answer(abstained=True))]
    assert chat_messages(turns)[1]["content"] is chat_messages(turns)[1]["content"]


def test_the_chat_typesets_no_latex(fake_assistant, tmp_path):
    demo = build_app(fake_assistant, tmp_path / "feedback.jsonl")
    (chat,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "qa-chat"]
    assert chat.latex_delimiters == []  # "$$" in a document is shown as written


def test_an_abstention_quotes_at_most_200_characters_of_a_long_question(fake_assistant):
    question = "What is the population of the Kuril Islands " + "according to the census " * 4200 + "?"
    assert len(question) > 100_000
    reply = fake_assistant.ask(question)
    assert reply.abstained
    assert len(reply.answer) < 400, reply.answer[:500]
    assert len(render.answer_html(reply, 0)) < 20_000


def test_the_evaluate_tab_writes_runs_beside_the_index_or_where_told(fake_assistant, tmp_path):
    beside = ChatApp(fake_assistant, tmp_path / "feedback.jsonl")
    assert beside.runs_dir == fake_assistant.index_dir.parent / "runs"
    told = ChatApp(fake_assistant, tmp_path / "feedback.jsonl", tmp_path / "elsewhere" / "runs")
    figures, _, files = told.evaluate("Dev conversations (3)", None, 5, "hybrid")
    assert "qa-eval" in figures, figures
    (run,) = (tmp_path / "elsewhere" / "runs").iterdir()
    assert all(Path(f).parent == run for f in files)
    assert not beside.runs_dir.exists()


def test_a_pdf_article_marks_its_page_breaks_and_a_source_its_page():
    pages = (0, TEXT.index("Engineers"), TEXT.index("Ferries"))
    pdf = replace(document(), doc="harbour.pdf", kind="pdf", pages=pages, author=f"Port office {EVIL}")
    c = replace(citation(doc="harbour.pdf"), kind="pdf", pages=(2, 2))
    html = render.article_html(pdf, c)
    _safe(html)
    assert "by Port office &lt;script&gt;" in html and "text extracted from the PDF, 3 pages" in html
    assert re.findall(r'data-page="(\d)">page \d<', html) == ["2", "3"]
    marked = re.search(r"<mark>(.*?)</mark>", html, re.S).group(1)
    assert marked.startswith('<span class="qa-page-break" data-page="2">page 2</span>Engineers tested it &lt;script')
    body = re.sub(r'<span class="qa-page-break"[^>]*>page \d</span>', "", html)
    assert "The pier opens in April. <mark>Engineers" in body  # the markers add no text of the article
    assert "harbour.pdf · page 2</span>" in render.source_html(c, 0, render.CITED)


def test_the_documents_tab_lists_the_files_not_indexed_with_their_reasons():
    info = DocumentInfo(doc="a.txt", title="A", date=None, chunks=2, chars=10)
    skipped = [(f"scan{EVIL}.pdf", "no text layer in its 2 page(s): needs OCR (a scanned PDF)"), ("x.docx", EVIL)]
    html = render.documents_table([info], skipped)
    _safe(html)
    assert "2 files not indexed" in html and "needs OCR" in html
    assert "not indexed" not in render.documents_table([info])
    assert "needs OCR" in render.documents_table([], skipped)
