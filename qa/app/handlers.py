"""The app's event handlers: a person's clicks turned into library calls, library records into HTML.

``ChatApp`` holds what every session shares (the assistant, where feedback and
evaluation runs go); what belongs to one session, the conversation, lives in
``gr.State`` and is passed in and handed back. Every handler shows a failure
the same way: a ``UserError`` as its own one-line message, anything else as a
short apology with the details in the server log (``user_message``).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from qa.accounts import Accounts
from qa.app import render
from qa.app.auth import require_editor
from qa.assistant import PROJECT, Assistant
from qa.documents import BackgroundJob, DocumentExists, shown_name
from qa.errors import FeedbackError, QuestionError, QuestionFileError, UnknownDocument, UserError
from qa.eval import RESULTS, SUMMARY, load_questions, run_eval, runs_beside
from qa.eval.metrics import is_miss, miss_kind, read_results
from qa.eval.report import HEADLINE
from qa.feedback import append_feedback
from qa.records import Citation, Document, Filter, Turn
from qa.store import BuildProgress, BuildReport

log = logging.getLogger(__name__)

BUNDLED_SETS = {
    "Dev questions (35)": PROJECT / "eval" / "dev_questions.jsonl",
    "Dev conversations (3)": PROJECT / "eval" / "dev_conversations.jsonl",
}
MAX_QUESTION_FILE = 20_000_000  # bytes of an uploaded question set; SQuAD v1.1 dev is under 5 MB
UNEXPECTED = "Something went wrong; the details are in the server log."
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")
PROGRESS_EVERY = 0.5  # seconds between progress lines of a document change in the Documents tab
MEANWHILE = "Questions are answered from the documents as they were until it is done."
REMOVE_INFO = "Files by name and title. A removed file goes to the trash, from which it can be restored."

Messages = list[dict[str, str]]
REPLACE, REMOVE = "replace", "remove"


@dataclass(frozen=True)
class Pending:
    """A change the Documents tab waits to have confirmed: replacing ``uploads``, or removing ``doc``."""

    action: str  # REPLACE or REMOVE
    question: str
    uploads: tuple[tuple[str, bytes], ...] = ()
    doc: str = ""

    def names(self) -> list[str]:
        return [name for name, _ in self.uploads] if self.action == REPLACE else [self.doc]


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


def _upload_outcome(name: str, report: BuildReport, replaced: bool) -> str:
    shown = shown_name(name)
    if name in report.added:
        return f"Added {shown}: you can ask about it now."
    if name in report.changed:
        trash = " The file it replaced is in the trash." if replaced else ""
        return f"Replaced {shown}: answers now use the new text.{trash}"
    return f"{shown} is already in the collection, unchanged."


def _labelled(progress: BuildProgress, name: str) -> BuildProgress:
    """A build's progress, each stage named for the file being indexed."""
    return lambda stage, done, total: progress(f"{shown_name(name)}: {stage}", done, total)


def _refused(verb: str, name: str, exc: Exception) -> str:
    """The line for a change refused, ``verb: name: reason``, naming the file once even when the reason does."""
    reason, name = user_message(exc), shown_name(name)
    return f"{verb}: {reason}" if reason.startswith(name) else f"{verb}: {name}: {reason}"


def _take_upload(path: str) -> bytes:
    """An uploaded file's bytes. Gradio's temporary copy is deleted then, so it is no longer kept or served."""
    file = Path(path)
    try:
        return file.read_bytes()
    finally:
        if file.resolve().is_relative_to(Path(get_upload_folder()).resolve()):
            file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                file.parent.rmdir()  # Gradio's folder for this one upload, when nothing else is in it


def _confirmation(pending: Pending | None) -> tuple[Any, Any, Any]:
    """The confirmation box (shown, or hidden when nothing waits), its question, and its button's name."""
    if pending is None:
        return gr.Column(visible=False), "", gr.skip()
    label = "Replace" if pending.action == REPLACE else "Move to trash"
    return gr.Column(visible=True), render.status_html(pending.question), gr.Button(label)


def _listed(names: Sequence[str]) -> str:
    shown = [shown_name(n) for n in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


class ChatApp:
    """The event handlers: one instance per running app, shared by every session (state lives in gr.State)."""

    def __init__(
        self,
        assistant: Assistant,
        feedback_path: Path,
        runs_dir: Path | None = None,
        accounts: Accounts | None = None,
    ):
        """``runs_dir`` is where the Evaluate tab writes runs (default: ``runs`` beside the index folder);
        with ``accounts``, only editors may change documents or evaluate (``qa.app.auth.require_editor``)."""
        self.assistant = assistant
        self.feedback_path = Path(feedback_path)
        self._runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.accounts = accounts

    @property
    def runs_dir(self) -> Path:
        return self._runs_dir or runs_beside(self.assistant.index_dir)

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

    def new_chat(self) -> tuple[Messages, list[Turn], str, str, Any]:
        return [], [], render.article_placeholder(), "", gr.DownloadButton(visible=False)

    @staticmethod
    def pick_example(data: gr.SelectData) -> str:
        return str(data.value.get("text", "")) if isinstance(data.value, dict) else str(data.value)

    def open_source(self, key: str, turns: list[Turn]) -> tuple[str, Any]:
        """The whole article of a clicked source, its passage highlighted, and a button that downloads its file."""
        hidden = gr.DownloadButton(visible=False)
        citation = find_citation(turns, key)
        if citation is None:
            return render.article_message("That source is no longer in this chat."), hidden
        try:
            document = self.assistant.document(citation.doc)
        except UnknownDocument:
            return render.article_message(f"{citation.doc} has been removed from the collection."), hidden
        return render.article_html(document, citation), self._download(document)

    def _download(self, document: Document) -> Any:
        """The download button for ``document``'s original file, hidden when it has none (a .jsonl record).

        The file is found by the document's id among the corpus folder's files (``Assistant.original_file``),
        never by a path from the request, and handed to Gradio as a copy in a folder of the server's own.
        """
        path = self.assistant.original_file(document.doc)
        if path is None:
            return gr.DownloadButton(visible=False)
        try:
            st = path.stat()
            key = hashlib.sha256(f"{path.resolve()}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}".encode())
            copy = Path(tempfile.gettempdir()) / "qa-originals" / key.hexdigest()[:32] / path.name
            if not copy.exists():  # a changed file has another key: this copy is of the file as it is now
                copy.parent.mkdir(parents=True, exist_ok=True)
                partial = copy.with_name(f".{uuid.uuid4().hex[:8]}")
                shutil.copyfile(path, partial)
                os.replace(partial, copy)  # whole or not at all, for a second request at the same moment
        except OSError:
            return gr.DownloadButton(visible=False)
        label = f"Download {shown_name(path.name)}"
        return gr.DownloadButton(label, value=str(copy), visible=True)

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
        chosen = (chosen or "").strip()
        if any(ord(c) < 32 for c in chosen):  # a NUL would make every file call raise ValueError
            raise FeedbackError("the file name holds a control character: type a plain file name")
        path = Path(chosen) if chosen else self.feedback_path
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
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom)
    ) -> tuple[str, str, Any]:
        """Score the assistant on a question set; show the headline figures and misses, offer the report.
        Editors only, when the app has accounts."""
        require_editor(request, self.accounts)
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

    def document_views(self, status: str | None = None) -> tuple[Any, Any, Any, Any, Any]:
        """The status line (kept as it is when None), the documents table, and fresh choices for the
        document pickers and the trash."""
        try:
            infos = self.assistant.documents()
            trashed = self.assistant.trashed()
        except Exception as exc:
            return render.status_html(user_message(exc), ok=False), "", gr.skip(), gr.skip(), gr.skip()
        records = sum(not i.removable for i in infos)
        info = REMOVE_INFO + (
            f" {records} records of .jsonl files are not listed: edit those files." if records else ""
        )
        return (
            gr.skip() if status is None else status,
            render.documents_table(infos, self.assistant.skipped),
            gr.Dropdown(choices=[(f"{i.title} ({i.date or 'undated'})", i.doc) for i in infos]),
            gr.Dropdown(choices=[(f"{i.doc} · {i.title}", i.doc) for i in infos if i.removable], value=None, info=info),
            gr.Dropdown(choices=[(f"{t.name} · {t.title} (removed {t.removed})", t.id) for t in trashed], value=None),
        )

    def add_files(self, paths: list[str] | None, request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """Read the uploaded files and index them in the background, showing how far it got.

        A rejected file changes nothing and says why; a file named like one in the
        collection is not added until the person confirms replacing it. Editors only.
        """
        uploads, refused = [], []
        for path in paths or []:
            name = Path(path).name  # Gradio keeps the uploaded file's own name on its temporary copy
            try:
                uploads.append((name, _take_upload(path)))
            except OSError as exc:
                refused.append(_refused("Not added", name, exc))
        require_editor(request, self.accounts)  # once Gradio's copies are deleted, before anything changes
        yield from self._index_uploads(uploads, refused, replace=False)

    def ask_remove(self, doc: str | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """The first step of removing: say what will happen and show the confirmation. Editors only."""
        require_editor(request, self.accounts)
        if not doc:
            return self._asking(render.status_html("Choose a document to remove.", ok=False), None)
        try:
            title = self.assistant.document(doc).title
        except Exception as exc:
            return self._asking(render.status_html(f"Not removed: {user_message(exc)}", ok=False), None)
        question = f"Move {shown_name(doc)} ({title}) to the trash? You can restore it from the trash below."
        return self._asking("", Pending(REMOVE, question, doc=doc))

    def confirm(self, pending: Pending | None, request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """The second step: replace the uploads or remove the document the confirmation box asked about."""
        require_editor(request, self.accounts)
        if pending is None:
            yield self._asking(render.status_html("Nothing is waiting to be confirmed.", ok=False), None)
        elif pending.action == REPLACE:
            yield from self._index_uploads(list(pending.uploads), [], replace=True)
        else:
            doc = pending.doc
            job = BackgroundJob(lambda progress: self.assistant.remove_document(doc, progress=progress))
            yield from self._watch(job, f"Removing {shown_name(doc)}")
            try:
                job.result()
            except Exception as exc:
                yield self._changed(render.status_html(_refused("Not removed", doc, exc), ok=False))
                return
            done = f"Moved {shown_name(doc)} to the trash; restore it from there if you need it again."
            yield self._changed(render.status_html(done))

    def cancel(self, pending: Pending | None) -> tuple[Any, ...]:
        """Keep things as they are: nothing waiting is replaced or removed."""
        if pending is None:
            return self._asking("", None)
        kept = f"Kept the current {_listed(pending.names())}; nothing was changed."
        return self._asking(render.status_html(kept), None)

    def restore(self, trash_id: str | None, request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """Put a file from the trash back in the collection and index it again. Editors only."""
        require_editor(request, self.accounts)
        item = next((t for t in self.assistant.trashed() if t.id == trash_id), None)
        if item is None:
            yield self._asking(render.status_html("Choose a file in the trash to restore.", ok=False), None)
            return
        job = BackgroundJob(lambda progress: self.assistant.restore(item.id, progress=progress))
        yield from self._watch(job, f"Restoring {shown_name(item.name)}")
        try:
            job.result()
        except Exception as exc:
            yield self._changed(render.status_html(_refused("Not restored", item.name, exc), ok=False))
            return
        yield self._changed(render.status_html(f"Restored {shown_name(item.name)}: you can ask about it again."))

    def _index_uploads(
        self, uploads: list[tuple[str, bytes]], lines: list[str], replace: bool
    ) -> Iterator[tuple[Any, ...]]:
        def work(progress: BuildProgress) -> tuple[list[str], list[tuple[str, bytes]], bool]:
            outcomes, waiting, ok = list(lines), [], not lines
            for name, data in uploads:
                try:
                    report = self.assistant.add_document(
                        name, data, replace=replace, progress=_labelled(progress, name)
                    )
                    outcomes.append(_upload_outcome(name, report, replace))
                except DocumentExists:
                    waiting.append((name, data))
                except Exception as exc:
                    ok = False
                    outcomes.append(_refused("Not added", name, exc))
            return outcomes, waiting, ok

        job = BackgroundJob(work)
        yield from self._watch(job, "Indexing")
        outcomes, waiting, ok = job.result()
        pending = None
        if waiting:
            one = len(waiting) == 1
            question = (
                f"{_listed([n for n, _ in waiting])} {'is' if one else 'are'} already in the collection. "
                f"Replace {'it' if one else 'them'}? The current {'file goes' if one else 'files go'} to the trash."
            )
            pending = Pending(REPLACE, question, uploads=tuple(waiting))
        status = render.status_html(" ".join(outcomes), ok) if outcomes else ""
        yield self._changed(status, pending)

    def _watch(self, job: BackgroundJob, doing: str) -> Iterator[tuple[Any, ...]]:
        """A progress line every ``PROGRESS_EVERY`` seconds until ``job`` ends; nothing else on the tab changes."""
        while not job.wait(PROGRESS_EVERY):
            line = render.status_html(f"{doing}: {job.describe()}. {MEANWHILE}")
            yield (line, *[gr.skip()] * 9)

    def _changed(self, status: str, pending: Pending | None = None) -> tuple[Any, ...]:
        """Every Documents-tab output after a change: fresh views, the upload box emptied, the confirmation."""
        return (*self.document_views(status), None, pending, *_confirmation(pending))

    def _asking(self, status: str, pending: Pending | None) -> tuple[Any, ...]:
        """The status line and the confirmation changed; the views as they are."""
        return (status, *[gr.skip()] * 5, pending, *_confirmation(pending))
