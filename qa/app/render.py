"""HTML for the browser chat: pure functions from library records to markup.

Every string that comes from a document or a person (titles, passages, article
text, file names, questions) goes through ``html.escape`` here and nowhere is
inserted raw. Clickable citations are ``<button>``s whose ``value`` is a key
``"<turn>:<kind>:<n>"`` (kind ``c`` for a citation, ``x`` for a closest match);
the page script (``PAGE_JS``) hands that key to the server, which answers with
``article_html``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from qa.assistant import DocumentInfo
from qa.records import Answer, Citation, Document

if TYPE_CHECKING:  # the evaluate view only formats what the evaluator returns
    from qa.eval import Summary
    from qa.eval.metrics import Result

CONTEXT_WORDS = 30  # words of the passage shown either side of the supporting sentence
# Answers whose HTML is kept: the chat is sent whole after each question, so every earlier answer of a
# conversation would be rendered again each time (an answer's HTML is a few KB).
ANSWERS_CACHED = 1024
CITED, CLOSEST = "c", "x"
_MARKER = re.compile(r"\[(\d+)\]")


def source_key(turn: int, kind: str, n: int) -> str:
    return f"{turn}:{kind}:{n}"


def parse_source_key(key: str) -> tuple[int, str, int]:
    """``(turn, kind, n)`` from a key made by ``source_key``; ``ValueError`` for anything else."""
    match = re.fullmatch(r"(\d+):([cx]):(\d+)", key.strip())
    if not match:
        raise ValueError(f"not a source reference: {key[:40]!r}")
    return int(match[1]), match[2], int(match[3])


def _date(date: str | None) -> str:
    return escape(date) if date else "undated"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _tail(text: str, words: int = CONTEXT_WORDS) -> str:
    parts = text.split()
    return ("… " if len(parts) > words else "") + " ".join(parts[-words:])


def _head(text: str, words: int = CONTEXT_WORDS) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


# -- chat messages ------------------------------------------------------------------------------


def question_html(question: str) -> str:
    return f'<div class="qa-question">{escape(question)}</div>'


def pending_html() -> str:
    return '<div class="qa-pending">Searching the documents…</div>'


def error_html(message: str) -> str:
    return f'<div class="qa-error" role="alert">{escape(message)}</div>'


def passage_html(c: Citation, marked: bool = True) -> str:
    """The passage around the supporting sentence, the sentence in ``<mark>``; unmarked, its opening words."""
    if not marked:
        return f'<span class="qa-quote">{escape(_head(c.text, 2 * CONTEXT_WORDS))}</span>'
    before = c.text[: c.sentence_start - c.start]
    after = c.text[c.sentence_end - c.start :]
    return (
        f'<span class="qa-quote">{escape(_tail(before))} <mark>{escape(_squash(c.sentence))}</mark> '
        f"{escape(_head(after))}</span>"
    )


def source_html(c: Citation, turn: int, kind: str) -> str:
    return (
        f'<button class="qa-source" value="{source_key(turn, kind, c.n)}" '
        f'title="Open the article at this passage">'
        f'<span class="qa-source-head"><span class="qa-n">[{c.n}]</span> '
        f'<span class="qa-title">{escape(c.title)}</span></span>'
        f'<span class="qa-meta">{_date(c.date)} · {escape(c.doc)}{" · " + c.page_label if c.pages else ""}</span>'
        f"{passage_html(c, marked=kind == CITED)}</button>"
    )


def _linked_markers(text: str, turn: int, numbers: set[int]) -> str:
    """The escaped answer text with each ``[n]`` of a real citation made a button."""

    def link(match: re.Match[str]) -> str:
        n = int(match[1])
        if n not in numbers:
            return match[0]
        return (
            f'<button class="qa-cite" value="{source_key(turn, CITED, n)}" '
            f'title="Show source {n} in its article">[{n}]</button>'
        )

    return _MARKER.sub(link, escape(text))


@functools.lru_cache(maxsize=ANSWERS_CACHED)
def answer_html(answer: Answer, turn: int) -> str:
    """One assistant message: the answer with clickable markers, then its sources
    (or, when the documents don't say, the reply in its own style and the closest matches).

    Rendered once per answer and turn (answers are frozen records), however often the chat is shown."""
    if answer.abstained:
        cards = "".join(source_html(c, turn, CLOSEST) for c in answer.closest)
        closest = (
            f'<div class="qa-sources"><div class="qa-sources-label">Closest matches</div>{cards}</div>' if cards else ""
        )
        return (
            f'<div class="qa-answer qa-abstained"><div class="qa-text">'
            f'<span class="qa-badge">Not in the documents</span> {escape(answer.answer)}</div>{closest}</div>'
        )
    numbers = {c.n for c in answer.citations}
    cards = "".join(source_html(c, turn, CITED) for c in answer.citations)
    label = "Source" if len(answer.citations) == 1 else "Sources"
    return (
        f'<div class="qa-answer"><div class="qa-text">{_linked_markers(answer.answer, turn, numbers)}</div>'
        f'<div class="qa-sources"><div class="qa-sources-label">{label}</div>{cards}</div></div>'
    )


# -- the article panel --------------------------------------------------------------------------


def article_placeholder() -> str:
    return (
        '<div class="qa-article qa-article-empty">Click a source or a [n] marker to read the whole '
        "article here, with the passage highlighted.</div>"
    )


def _article_head(doc: Document, note: str = "") -> str:
    note_html = f'<div class="qa-note">{escape(note)}</div>' if note else ""
    extracted = ""
    if doc.extracted:
        pages = f", {len(doc.pages)} page{'s' * (len(doc.pages) != 1)}" if doc.pages else ""
        extracted = f" · text extracted from the {KIND_NAMES.get(doc.kind, doc.kind)}{pages}"
        extracted = (f" · by {doc.author}" if doc.author else "") + extracted
    return (
        f'<div class="qa-article-head"><div class="qa-article-title">{escape(doc.title)}</div>'
        f'<div class="qa-meta">{_date(doc.date)} · {escape(doc.doc)}{escape(extracted)}</div>{note_html}</div>'
    )


KIND_NAMES = {"pdf": "PDF", "html": "web page", "docx": "Word file"}


def _text(doc: Document, start: int, end: int) -> str:
    """``doc.text[start:end]`` escaped, with a marker where each page after the first begins."""
    out, at = [], start
    for page, p in enumerate(doc.pages[1:], 2):
        if not start <= p < end:
            continue
        out.append(escape(doc.text[at:p].rstrip("\n")))  # the marker is a block: it is the break
        out.append(f'<span class="qa-page-break" data-page="{page}">page {page}</span>')
        at = p
    out.append(escape(doc.text[at:end]))
    return "".join(out)


def article_html(doc: Document, c: Citation | None) -> str:
    """The whole article, the cited passage wrapped in ``#qa-passage`` and its sentence in ``<mark>``.

    ``c`` is None, or its offsets no longer fit the text, when the article
    changed since the answer: then it is shown without a highlight, with a note.
    """
    text = doc.text
    if c is None or text[c.start : c.end] != c.text:
        note = "This article changed since the answer was given; the passage is no longer marked." if c else ""
        head, body = _article_head(doc, note), _text(doc, 0, len(text))
    else:
        head = _article_head(doc)
        body = (
            f'{_text(doc, 0, c.start)}<span id="qa-passage" class="qa-passage">'
            f"{_text(doc, c.start, c.sentence_start)}<mark>{_text(doc, c.sentence_start, c.sentence_end)}</mark>"
            f"{_text(doc, c.sentence_end, c.end)}</span>{_text(doc, c.end, len(text))}"
        )
    return f'<div class="qa-article">{head}<div class="qa-article-text">{body}</div></div>'


def article_message(message: str) -> str:
    return f'<div class="qa-article qa-article-empty">{escape(message)}</div>'


# -- the documents view -------------------------------------------------------------------------


def skipped_html(skipped: Sequence[tuple[str, str]]) -> str:
    """The files of the corpus folder that are not indexed, each with its one-line reason."""
    if not skipped:
        return ""
    items = "".join(f"<li><code>{escape(name)}</code>: {escape(reason)}</li>" for name, reason in skipped)
    n = len(skipped)
    return (
        f'<div class="qa-skipped"><div class="qa-docs-count">{n} file{"s" * (n != 1)} not indexed</div>'
        f"<ul>{items}</ul></div>"
    )


def documents_table(infos: list[DocumentInfo], skipped: Sequence[tuple[str, str]] = ()) -> str:
    if not infos:
        empty = "The collection is empty: upload articles below (.txt, .md, .pdf, .html or .docx)."
        return f'<div class="qa-status">{empty}</div>{skipped_html(skipped)}'
    rows = "".join(
        f'<tr><td class="qa-doc-title">{escape(i.title)}</td><td>{_date(i.date)}</td>'
        f'<td class="qa-doc-file">{escape(i.doc)}</td><td class="qa-num">{i.chunks}</td></tr>'
        for i in infos
    )
    passages = sum(i.chunks for i in infos)
    return (
        f'<div class="qa-docs"><div class="qa-docs-count">{len(infos)} documents · {passages} passages</div>'
        f'<table><thead><tr><th>Title</th><th>Date</th><th>File</th><th class="qa-num">Passages</th></tr>'
        f"</thead><tbody>{rows}</tbody></table></div>{skipped_html(skipped)}"
    )


def status_html(message: str, ok: bool = True) -> str:
    kind = "qa-ok" if ok else "qa-bad"
    return f'<div class="qa-status {kind}" role="status">{escape(message)}</div>'


# -- the evaluate view --------------------------------------------------------------------------


def eval_summary_html(summary: Summary, headline: Sequence[str]) -> str:
    """The headline figures of a finished run, as cards."""
    overall = summary.overall.to_dict()
    cards = "".join(
        f'<div class="qa-card"><b>{escape(_figure(overall.get(name)))}</b><span>{escape(name)}</span></div>'
        for name in headline
    )
    note = (
        f"{summary.overall.questions} questions · {summary.settings.mode} · k={summary.settings.k} · "
        f"{summary.seconds:.0f} s"
    )
    return (
        f'<div class="qa-eval"><div class="qa-docs-count">{escape(note)}</div><div class="qa-cards">{cards}</div></div>'
    )


def eval_misses_html(misses: Sequence[tuple[Result, str]], limit: int = 50) -> str:
    """A table of the questions answered wrongly, each with what kind of miss it was."""
    if not misses:
        return '<div class="qa-status qa-ok">No misses.</div>'
    rows = "".join(
        f"<tr><td>{escape(r.id)}</td><td>{escape(r.question)}</td>"
        f"<td>{escape(' / '.join(r.answers) or '(unanswerable)')}</td><td>{escape(r.answer)}</td>"
        f"<td>{escape(kind)}</td></tr>"
        for r, kind in misses[:limit]
    )
    more = f"<p>and {len(misses) - limit} more in the report.</p>" if len(misses) > limit else ""
    return (
        f'<div class="qa-docs"><div class="qa-docs-count">Misses: {len(misses)}</div><table><thead><tr>'
        "<th>Id</th><th>Question</th><th>Gold</th><th>Answer given</th><th>Why</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{more}</div>"
    )


def _figure(value: object) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


# -- page style and script ----------------------------------------------------------------------

PAGE_CSS = """
.qa-header h1 { font-size: 1.5rem; margin: 0; }
.qa-header p { margin: .2rem 0 0; color: var(--body-text-color-subdued); }
.qa-answer .qa-text, .qa-question { line-height: 1.55; }
.qa-cite { all: unset; cursor: pointer; color: var(--color-accent); font-weight: 600; font-size: .85em;
  vertical-align: super; padding: 0 .1em; }
.qa-cite:hover, .qa-cite:focus-visible { text-decoration: underline; }
.qa-sources { margin-top: .75rem; display: flex; flex-direction: column; gap: .5rem; }
.qa-sources-label { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); }
.qa-source { all: unset; box-sizing: border-box; display: block; width: 100%; cursor: pointer;
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .55rem .7rem;
  background: var(--background-fill-primary); }
.qa-source:hover, .qa-source:focus-visible { border-color: var(--color-accent); }
.qa-source-head, .qa-meta, .qa-quote { display: block; }
.qa-title { font-weight: 600; }
.qa-n { color: var(--color-accent); font-weight: 600; }
.qa-meta { font-size: .8rem; color: var(--body-text-color-subdued); margin: .1rem 0 .3rem;
  overflow-wrap: anywhere; }
.qa-quote { font-size: .9rem; line-height: 1.5; }
.qa-answer mark, .qa-article mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
.qa-abstained .qa-text { border-left: 4px solid #d97706; background: rgba(217, 119, 6, .08);
  padding: .5rem .75rem; border-radius: 4px; font-style: italic; }
.qa-badge { font-style: normal; font-weight: 600; font-size: .75rem; color: #b45309;
  text-transform: uppercase; letter-spacing: .04em; margin-right: .3rem; }
.qa-pending { color: var(--body-text-color-subdued); font-style: italic; }
.qa-error { color: #b91c1c; }
.qa-article { max-height: 75vh; overflow-y: auto; padding: .25rem .5rem; }
.qa-article-empty { color: var(--body-text-color-subdued); padding: 1rem; }
.qa-article-title { font-size: 1.1rem; font-weight: 600; }
.qa-article-text { white-space: pre-wrap; line-height: 1.6; margin-top: .75rem; overflow-wrap: anywhere; }
.qa-page-break { display: block; margin: .9rem 0; border-top: 1px dashed var(--border-color-primary);
  color: var(--body-text-color-subdued); font-size: .8rem; text-align: center; line-height: 1.4; }
.qa-page-break::before { content: "— "; } .qa-page-break::after { content: " —"; }
.qa-skipped { margin-top: 1rem; color: var(--body-text-color-subdued); }
.qa-passage { background: rgba(253, 230, 138, .35); border-radius: 3px; }
.qa-note { color: #b45309; font-size: .85rem; margin-top: .3rem; }
.qa-cards { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0; }
.qa-card { border: 1px solid #d6dae3; border-radius: 8px; padding: .5rem .8rem; min-width: 7.5rem; }
.qa-card b { display: block; font-size: 1.3rem; }
.qa-card span { color: #667; font-size: .8rem; }
.qa-status { padding: .4rem .6rem; border-radius: 6px; }
.qa-ok { background: rgba(22, 163, 74, .1); }
.qa-bad { background: rgba(220, 38, 38, .1); color: #b91c1c; }
.qa-docs table { width: 100%; border-collapse: collapse; font-size: .9rem; border: none; }
.qa-docs th, .qa-docs td { text-align: left; padding: .4rem .5rem; border: none;
  border-bottom: 1px solid var(--border-color-primary); vertical-align: top; }
.qa-docs-count { color: var(--body-text-color-subdued); margin-bottom: .4rem; }
.qa-doc-file { font-family: var(--font-mono); font-size: .8rem; overflow-wrap: anywhere; }
.qa-num { text-align: right !important; }
@media (max-width: 640px) { .qa-doc-file { display: none; } .qa-article { max-height: none; } }
"""

# Installed once on page load: a click on a source or a marker sends its key to the
# server through a hidden textbox and button (both found by their element ids).
PAGE_JS = """
() => {
  document.addEventListener('click', (event) => {
    const button = event.target.closest('button.qa-cite, button.qa-source');
    if (!button) return;
    event.preventDefault();
    const box = document.querySelector('#qa-open-key textarea, #qa-open-key input');
    const open = document.querySelector('#qa-open-button');
    if (!box || !open) return;
    box.value = button.value;
    box.dispatchEvent(new Event('input', {bubbles: true}));
    open.click();
  });
}
"""

# Run after the article panel updates: bring the highlighted passage into view.
SCROLL_JS = """
() => {
  setTimeout(() => {
    const target = document.querySelector('#qa-article mark') || document.querySelector('#qa-article');
    if (target) target.scrollIntoView({block: 'center'});
  }, 50);
}
"""
