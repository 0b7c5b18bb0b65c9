"""The app's event handlers: a person's clicks turned into library calls, library records into HTML.

``ChatApp`` holds what every session shares (the assistant, where feedback and
evaluation runs go); what belongs to one session, the conversation, lives in
``gr.State`` and is passed in and handed back. Every handler shows a failure
the same way: a ``UserError`` as its own one-line message, anything else as a
short apology with the details in the server log (``user_message``).
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from qa.app import render
from qa.assistant import PROJECT, Assistant
from qa.errors import FeedbackError, QuestionError, QuestionFileError, UnknownDocument, UserError
from qa.eval import DEFAULT_RUNS, RESULTS, SUMMARY, load_questions, run_eval
from qa.eval.metrics import is_miss, miss_kind, read_results
from qa.eval.report import HEADLINE
from qa.feedback import append_feedback
from qa.records import Citation, Turn
from qa.retrieve import Filter

log = logging.getLogger(__name__)

BUNDLED_SETS = {
    "Dev questions (35)": PROJECT / "eval" / "dev_questions.jsonl",
    "Dev conversations (3)": PROJECT / "eval" / "dev_conversations.jsonl",
}
MAX_QUESTION_FILE = 20_000_000  # bytes of an uploaded question set; SQuAD v1.1 dev is under 5 MB
UNEXPECTED = "Something went wrong; the details are in the server log."
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")

Messages = list[dict[str, str]]


def user_message(exc: Exception) -> str:
    """What a person is shown for ``exc``: a ``UserError``'s own sentence; anything else is logged in full."""
    if isinstance(exc, UserError):
        return str(exc)
    log.error("unexpected error", exc_info=exc)
    return UNEXPECTED


def warn(message: str) -> None:
    """A one-line warning toast (Gradio renders toasts as HTML, so the text is escaped)."""
    gr.Warning(html.escape(message))


def chat_messages(turns: Sequence[Turn]) -> Messages:
    """The chat as the Chatbot shows it: a question and its answer per turn, so message i belongs to turn i // 2."""
    out: Messages = []
    for i, turn in enumerate(turns):
        out.append({"role": "user", "content": render.question_html(turn.question)})
        if turn.answer is not None:
            out.append({"role": "assistant", "content": render.answer_html(turn.answer, i)})
    return out


def make_filter(docs: Sequence[str] | None, date_from: str, date_to: str) -> Filter | None:
    """The ``where=`` restriction chosen in the options, or None when nothing is restricted."""
    date_from, date_to = (date_from or "").strip(), (date_to or "").strip()
    for date in (date_from, date_to):
        if date and not _DATE.fullmatch(date):
            raise QuestionError(f"“{date}” is not a date: write YYYY-MM-DD (or YYYY-MM, or YYYY)")
    if not docs and not date_from and not date_to:
        return None
    return Filter(docs=frozenset(docs) if docs else None, date_from=date_from or None, date_to=date_to or None)


def find_citation(turns: Sequence[Turn], key: str) -> Citation | None:
    """The citation a clicked source or marker refers to, or None if the chat no longer has it."""
    try:
        turn, kind, n = render.parse_source_key(key)
        answer = turns[turn].answer
    except (ValueError, IndexError):
        return None
    if answer is None:
        return None
    pool = answer.citations if kind == render.CITED else answer.closest
    return next((c for c in pool if c.n == n), None)


def gradio_progress(progress: gr.Progress, label: str) -> Callable[[str, int, int], None]:
    """The library's ``(stage, done, total)`` progress callback, shown as a Gradio progress bar."""

    def report(stage: str, done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=f"{label}: {stage}")

    return report


def _upload_outcome(name: str, added: Sequence[str], changed: Sequence[str]) -> str:
    if name in added:
        return f"Added {name}: you can ask about it now."
    if name in changed:
        return f"Updated {name}: answers now use the new text."
    return f"{name} is already in the collection, unchanged."


class ChatApp:
    """The event handlers: one instance per running app, shared by every session (state lives in gr.State)."""

    def __init__(self, assistant: Assistant, feedback_path: Path, runs_dir: Path = DEFAULT_RUNS):
        self.assistant = assistant
        self.feedback_path = Path(feedback_path)
        self.runs_dir = Path(runs_dir)

    # -- chat ---------------------------------------------------------------------------------

    def respond(
        self,
        question: str,
        turns: list[Turn],
        k: float,
        mode: str,
        docs: list[str] | None,
        date_from: str,
        date_to: str,
    ) -> Iterator[tuple[Any, Any, Any]]:
        """Show the question at once, then the answer with its sources; errors become a one-line warning."""
        question = " ".join((question or "").split())
        if not question:
            warn("Type a question about the documents first.")
            yield gr.skip(), gr.skip(), gr.skip()
            return
        shown = chat_messages(turns)
        pending = [
            {"role": "user", "content": render.question_html(question)},
            {"role": "assistant", "content": render.pending_html()},
        ]
        yield "", shown + pending, turns
        try:
            where = make_filter(docs, date_from, date_to)
            answer = self.assistant.ask(question, history=turns, k=int(k), mode=mode, where=where)
        except Exception as exc:  # shown as one line, logged when unexpected
            warn(user_message(exc))
            yield question, shown, turns
            return
        turns = [*turns, Turn(question, answer)]
        yield "", chat_messages(turns), turns

    def new_chat(self) -> tuple[Messages, list[Turn], str, str]:
        return [], [], render.article_placeholder(), ""

    @staticmethod
    def pick_example(data: gr.SelectData) -> str:
        return str(data.value.get("text", "")) if isinstance(data.value, dict) else str(data.value)

    def open_source(self, key: str, turns: list[Turn]) -> str:
        """The whole article of a clicked source, its passage highlighted."""
        citation = find_citation(turns, key)
        if citation is None:
            return render.article_message("That source is no longer in this chat.")
        try:
            document = self.assistant.document(citation.doc)
        except UnknownDocument:
            return render.article_message(f"{citation.doc} has been removed from the collection.")
        return render.article_html(document, citation)

    def rate(self, turns: list[Turn], feedback_path: str, data: gr.LikeData) -> None:
        """Append a thumbs up / down on an answer to the feedback file."""
        if data.liked not in (True, False):
            return  # a rating taken back: the file keeps what was said
        index = data.index if isinstance(data.index, int) else data.index[0]
        turn = index // 2
        if turn >= len(turns) or turns[turn].answer is None:
            return
        try:
            append_feedback(
                self._feedback_file(feedback_path),
                "up" if data.liked else "down",
                turns[turn].answer,
                earlier_questions=[t.question for t in turns[:turn]],
            )
        except Exception as exc:
            warn(f"Feedback not saved: {user_message(exc)}")
            return
        gr.Info("Thanks, your feedback was saved.")

    def _feedback_file(self, chosen: str) -> Path:
        """The file named in the options, which must lie in the folder of the one the app was started with."""
        path = Path(chosen.strip()) if chosen and chosen.strip() else self.feedback_path
        folder = self.feedback_path.resolve().parent
        if path.resolve().parent != folder:
            raise FeedbackError(f"the file must be in {folder}")
        return path

    def ask_api(self, question: str, k: int = 5, mode: str = "hybrid") -> str:
        """Answer one question from the documents; returns the answer text with its [n] markers."""
        try:
            return self.assistant.ask(question, k=int(k), mode=mode).answer
        except Exception as exc:  # clients get one line, never a traceback
            raise gr.Error(user_message(exc)) from None

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(
        self,
        bundled: str | None,
        uploaded: str | None,
        k: float,
        mode: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom)
    ) -> tuple[str, str, Any]:
        """Score the assistant on a question set; show the headline figures and misses, offer the report."""
        try:
            path = Path(uploaded) if uploaded else BUNDLED_SETS.get(bundled or "")
            if path is None:
                raise QuestionFileError("choose a bundled question set or upload one (.jsonl, .json or .csv)")
            if path.stat().st_size > MAX_QUESTION_FILE:
                raise QuestionFileError(f"{path.name}: larger than {MAX_QUESTION_FILE // 1_000_000} MB")
            questions = load_questions(path)
            out = self.runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-app-{mode}-k{int(k)}"
            summary = run_eval(
                self.assistant,
                questions,
                out,
                k=int(k),
                mode=mode,
                progress=lambda done, total: progress((done, total), desc="questions"),
            )
        except Exception as exc:
            reason = user_message(exc)
            if uploaded:  # Gradio's temporary folder means nothing to the person who uploaded the file
                reason = reason.replace(str(uploaded), Path(uploaded).name)
            return render.status_html(f"Not evaluated: {reason}", ok=False), "", None
        misses = [(r, miss_kind(r)) for r in read_results(out / RESULTS) if is_miss(r)]
        files = [str(out / name) for name in ("report.html", SUMMARY, RESULTS, "report.md")]
        return render.eval_summary_html(summary, HEADLINE), render.eval_misses_html(misses), files

    # -- documents ----------------------------------------------------------------------------

    def document_views(self, status: str = "") -> tuple[str, str, Any, Any]:
        """The status line, the documents table and fresh choices for both document pickers."""
        try:
            infos = self.assistant.documents()
        except Exception as exc:
            return render.status_html(user_message(exc), ok=False), "", gr.skip(), gr.skip()
        choices = [(f"{i.title} ({i.date or 'undated'})", i.doc) for i in infos]
        return (
            status,
            render.documents_table(infos),
            gr.Dropdown(choices=choices),
            gr.Dropdown(choices=choices, value=None),
        )

    def add_files(
        self,
        paths: list[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom)
    ) -> tuple[Any, ...]:
        """Check, save and index uploaded files; a rejected file changes nothing and says why."""
        lines, ok = [], True
        for path in paths or []:
            name = Path(path).name  # Gradio keeps the uploaded file's own name on its temporary copy
            try:
                report = self.assistant.add_document(
                    name, Path(path).read_bytes(), progress=gradio_progress(progress, name)
                )
                lines.append(_upload_outcome(name, report.added, report.changed))
            except Exception as exc:
                ok = False
                reason = user_message(exc)
                lines.append(f"Not added: {reason}" if name in reason else f"Not added: {name}: {reason}")
        status = render.status_html(" ".join(lines), ok) if lines else ""
        return (*self.document_views(status), None)

    def remove(
        self,
        doc: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom)
    ) -> tuple[Any, ...]:
        """Delete a document's file from the corpus folder and drop it from the index."""
        if not doc:
            return self.document_views(render.status_html("Choose a document to remove.", ok=False))
        try:
            self.assistant.remove_document(doc, progress=gradio_progress(progress, doc))
        except Exception as exc:
            return self.document_views(render.status_html(f"Not removed: {user_message(exc)}", ok=False))
        return self.document_views(render.status_html(f"Removed {doc}."))
