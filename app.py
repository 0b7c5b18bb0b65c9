"""The browser chat: a thin Gradio shell over ``qa.Assistant``.

    python app.py [--host 127.0.0.1] [--port 7860] [--corpus corpus/] [--index index/]

All retrieval and answering happens in the library; this module only turns a
person's clicks into library calls and library records into HTML (``app_render``).
Nothing is built at import time: ``build_app`` makes the UI for the assistant it
is given, ``serve`` launches it, ``main`` parses the command line.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

# Before gradio is imported: no analytics call from the server, no model download, ever.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

import gradio as gr  # noqa: E402

import app_render as render  # noqa: E402
import qa  # noqa: E402
from qa.evaluate import run_eval  # noqa: E402
from qa.feedback import append_feedback  # noqa: E402
from qa.logs import configure_logging  # noqa: E402
from qa.metrics import is_miss, miss_kind, read_results  # noqa: E402
from qa.questions import load_questions  # noqa: E402
from qa.report import HEADLINE  # noqa: E402

log = logging.getLogger("app")

PROJECT = Path(__file__).resolve().parent
DEFAULT_FEEDBACK = PROJECT / "feedback.jsonl"
BUNDLED_SETS = {"Dev questions (35)": PROJECT / "eval" / "dev_questions.jsonl",
                "Dev conversations (3)": PROJECT / "eval" / "dev_conversations.jsonl"}
MAX_QUESTION_FILE = 20_000_000
EXAMPLES = (
    "Which Japanese foreign minister did Russia ban in 2025?",
    "How many Japanese individuals did Russia bar indefinitely in May 2022?",
    "Who became Japan's prime minister in October 2025?",
    "What did Japan pledge to Ukraine in March 2022?",
)
USER_ERRORS = (ValueError, KeyError, qa.CorpusError, qa.IndexProblem)
UNEXPECTED = "Something went wrong; the details are in the server log."
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")

Messages = list[dict[str, str]]


def chat_messages(turns: Sequence[qa.Turn]) -> Messages:
    """The chat as the Chatbot shows it: a question and its answer per turn, so message i belongs to turn i // 2."""
    out: Messages = []
    for i, turn in enumerate(turns):
        out.append({"role": "user", "content": render.question_html(turn.question)})
        if turn.answer is not None:
            out.append({"role": "assistant", "content": render.answer_html(turn.answer, i)})
    return out


def make_filter(docs: Sequence[str] | None, date_from: str, date_to: str) -> qa.Filter | None:
    """The ``where=`` restriction chosen in the options, or None when nothing is restricted."""
    date_from, date_to = (date_from or "").strip(), (date_to or "").strip()
    for date in (date_from, date_to):
        if date and not _DATE.fullmatch(date):
            raise ValueError(f"“{date}” is not a date: write YYYY-MM-DD (or YYYY-MM, or YYYY)")
    if not docs and not date_from and not date_to:
        return None
    return qa.Filter(docs=frozenset(docs) if docs else None, date_from=date_from or None, date_to=date_to or None)


def find_citation(turns: Sequence[qa.Turn], key: str) -> qa.Citation | None:
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


def print_progress(stage: str, done: int, total: int) -> None:
    print(f"  {stage} {done}/{total}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A one-line warning toast (Gradio renders toasts as HTML, so the text is escaped)."""
    gr.Warning(html.escape(message))


def _failure(exc: Exception) -> str:
    if isinstance(exc, USER_ERRORS):
        return str(exc).strip("'\"")
    log.exception("unexpected error")
    return UNEXPECTED


def _upload_outcome(name: str, added: Sequence[str], changed: Sequence[str]) -> str:
    if name in added:
        return f"Added {name}: you can ask about it now."
    if name in changed:
        return f"Updated {name}: answers now use the new text."
    return f"{name} is already in the collection, unchanged."


class ChatApp:
    """The event handlers: one instance per running app, shared by every session (state lives in gr.State)."""

    def __init__(self, assistant: qa.Assistant, feedback_path: Path, runs_dir: Path = PROJECT / "runs"):
        self.assistant = assistant
        self.feedback_path = feedback_path
        self.runs_dir = runs_dir

    # -- chat ---------------------------------------------------------------------------------

    def respond(self, question: str, turns: list[qa.Turn], k: float, mode: str, docs: list[str] | None,
                date_from: str, date_to: str) -> Iterator[tuple[Any, Any, Any]]:
        """Show the question at once, then the answer with its sources; errors become a one-line warning."""
        question = " ".join((question or "").split())
        if not question:
            warn("Type a question about the documents first.")
            yield gr.skip(), gr.skip(), gr.skip()
            return
        shown = chat_messages(turns)
        pending = [{"role": "user", "content": render.question_html(question)},
                   {"role": "assistant", "content": render.pending_html()}]
        yield "", shown + pending, turns
        try:
            where = make_filter(docs, date_from, date_to)
            answer = self.assistant.ask(question, history=turns, k=int(k), mode=mode, where=where)
        except Exception as exc:  # shown as one line, logged when unexpected
            warn(_failure(exc))
            yield question, shown, turns
            return
        turns = [*turns, qa.Turn(question, answer)]
        yield "", chat_messages(turns), turns

    def new_chat(self) -> tuple[Messages, list[qa.Turn], str, str]:
        return [], [], render.article_placeholder(), ""

    @staticmethod
    def pick_example(data: gr.SelectData) -> str:
        return str(data.value.get("text", "")) if isinstance(data.value, dict) else str(data.value)

    def open_source(self, key: str, turns: list[qa.Turn]) -> str:
        """The whole article of a clicked source, its passage highlighted."""
        citation = find_citation(turns, key)
        if citation is None:
            return render.article_message("That source is no longer in this chat.")
        try:
            document = self.assistant.document(citation.doc)
        except KeyError:
            return render.article_message(f"{citation.doc} has been removed from the collection.")
        return render.article_html(document, citation)

    def rate(self, turns: list[qa.Turn], feedback_path: str, data: gr.LikeData) -> None:
        """Append a thumbs up / down on an answer to the feedback file."""
        if data.liked not in (True, False):
            return  # a rating taken back: the file keeps what was said
        index = data.index if isinstance(data.index, int) else data.index[0]
        turn = index // 2
        if turn >= len(turns) or turns[turn].answer is None:
            return
        path = Path(feedback_path.strip()) if feedback_path and feedback_path.strip() else self.feedback_path
        if path.resolve().parent != self.feedback_path.resolve().parent:
            warn(f"Feedback not saved: the file must be in {self.feedback_path.resolve().parent}")
            return
        try:
            append_feedback(path, "up" if data.liked else "down", turns[turn].answer,
                            earlier_questions=[t.question for t in turns[:turn]])
        except (ValueError, OSError) as exc:
            warn(f"Feedback not saved: {exc}")
            return
        gr.Info("Thanks, your feedback was saved.")

    def ask_api(self, question: str, k: int = 5, mode: str = "hybrid") -> str:
        """Answer one question from the documents; returns the answer text with its [n] markers."""
        try:
            return self.assistant.ask(question, k=int(k), mode=mode).answer
        except Exception as exc:  # clients get one line, never a traceback
            raise gr.Error(_failure(exc)) from None

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, bundled: str | None, uploaded: str | None, k: float, mode: str,
                 progress: gr.Progress = gr.Progress()) -> tuple[str, str, Any]:  # noqa: B008 (Gradio's idiom)
        """Score the assistant on a question set; show the headline figures and misses, offer the report."""
        try:
            path = Path(uploaded) if uploaded else BUNDLED_SETS.get(bundled or "")
            if path is None:
                raise ValueError("choose a bundled question set or upload one (.jsonl, .json or .csv)")
            if path.stat().st_size > MAX_QUESTION_FILE:
                raise ValueError(f"{path.name}: larger than {MAX_QUESTION_FILE // 1_000_000} MB")
            questions = load_questions(path)
            out = self.runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-app-{mode}-k{int(k)}"
            summary = run_eval(self.assistant, questions, out, k=int(k), mode=mode,
                               progress=lambda done, total: progress((done, total), desc="questions"))
        except Exception as exc:
            reason = _failure(exc).replace(str(uploaded), Path(uploaded).name) if uploaded else _failure(exc)
            return render.status_html(f"Not evaluated: {reason}", ok=False), "", None
        misses = [(r, miss_kind(r)) for r in read_results(out / "results.jsonl") if is_miss(r)]
        files = [str(out / name) for name in ("report.html", "summary.json", "results.jsonl", "report.md")]
        return render.eval_summary_html(summary, HEADLINE), render.eval_misses_html(misses), files

    # -- documents ----------------------------------------------------------------------------

    def document_views(self, status: str = "") -> tuple[str, str, Any, Any]:
        """The status line, the documents table and fresh choices for both document pickers."""
        try:
            infos = self.assistant.documents()
        except Exception as exc:
            return render.status_html(_failure(exc), ok=False), "", gr.skip(), gr.skip()
        choices = [(f"{i.title} ({i.date or 'undated'})", i.doc) for i in infos]
        return status, render.documents_table(infos), gr.Dropdown(choices=choices), \
            gr.Dropdown(choices=choices, value=None)

    def add_files(self, paths: list[str] | None,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's idiom)
        """Check, save and index uploaded files; a rejected file changes nothing and says why."""
        lines, ok = [], True
        for path in paths or []:
            name = Path(path).name  # Gradio keeps the uploaded file's own name on its temporary copy
            try:
                report = self.assistant.add_document(name, Path(path).read_bytes(),
                                                     progress=gradio_progress(progress, name))
                lines.append(_upload_outcome(name, report.added, report.changed))
            except Exception as exc:
                ok = False
                reason = _failure(exc)
                lines.append(f"Not added: {reason}" if name in reason else f"Not added: {name}: {reason}")
        status = render.status_html(" ".join(lines), ok) if lines else ""
        return (*self.document_views(status), None)

    def remove(self, doc: str | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's idiom)
        """Delete a document's file from the corpus folder and drop it from the index."""
        if not doc:
            return self.document_views(render.status_html("Choose a document to remove.", ok=False))
        try:
            self.assistant.remove_document(doc, progress=gradio_progress(progress, doc))
        except Exception as exc:
            return self.document_views(render.status_html(f"Not removed: {_failure(exc)}", ok=False))
        return self.document_views(render.status_html(f"Removed {doc}."))


HEADER = ('<div class="qa-header"><h1>Ask the news archive</h1><p>Answers come only from the articles in the '
          'collection, quoted and cited. Click a source to read it in full.</p></div>')
PLACEHOLDER = ("**Ask a question about the articles.** Every answer quotes its sources; "
               "follow-up questions use the conversation.")


def build_app(assistant: qa.Assistant, feedback_path: Path | str = DEFAULT_FEEDBACK,
              runs_dir: Path | str = PROJECT / "runs") -> gr.Blocks:
    """The chat, documents and evaluate views for ``assistant`` (not launched; see ``serve``)."""
    app = ChatApp(assistant, Path(feedback_path), Path(runs_dir))
    with gr.Blocks(title="News archive Q&A") as demo:
        turns = gr.State([])
        gr.HTML(HEADER)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=340):
                        chat = gr.Chatbot(show_label=False, elem_id="qa-chat", height="60vh", min_height=320,
                                          placeholder=PLACEHOLDER, examples=[{"text": q} for q in EXAMPLES],
                                          buttons=[], layout="panel")
                        with gr.Row():
                            question = gr.Textbox(placeholder="Ask about the articles…", show_label=False,
                                                  container=False, scale=6, min_width=180, autofocus=True,
                                                  elem_id="qa-question")
                            ask = gr.Button("Ask", variant="primary", size="md", scale=1, min_width=70,
                                            elem_id="qa-ask")
                            new = gr.Button("New chat", size="md", scale=1, min_width=100, elem_id="qa-new-chat")
                        with gr.Accordion("Options", open=False, elem_id="qa-options"):
                            k = gr.Slider(1, 20, value=5, step=1, label="Passages to search")
                            mode = gr.Radio(list(qa.MODES), value="hybrid", label="Retrieval",
                                            info="hybrid: meaning and words; dense: meaning; keyword: exact words")
                            docs = gr.Dropdown(multiselect=True, label="Only these documents",
                                               info="Leave empty to search them all.", elem_id="qa-only-docs")
                            with gr.Row():
                                date_from = gr.Textbox(label="From", placeholder="YYYY-MM-DD", min_width=120,
                                                       info="Undated articles are left out of a date range.")
                                date_to = gr.Textbox(label="To", placeholder="YYYY-MM-DD", min_width=120)
                            feedback = gr.Textbox(str(feedback_path), label="Feedback file (JSON Lines)")
                    with gr.Column(scale=2, min_width=300):
                        article = gr.HTML(render.article_placeholder(), elem_id="qa-article")
                open_key = gr.Textbox(visible="hidden", elem_id="qa-open-key")
                open_button = gr.Button(visible="hidden", elem_id="qa-open-button")
            with gr.Tab("Documents", id="documents") as documents_tab:
                table = gr.HTML(elem_id="qa-doc-table")
                upload = gr.File(label="Add articles (.txt or .md, UTF-8)", file_count="multiple",
                                 file_types=[".txt", ".md"], type="filepath", elem_id="qa-upload")
                status = gr.HTML(elem_id="qa-doc-status")
                with gr.Row(equal_height=True):
                    to_remove = gr.Dropdown(label="Remove a document", scale=4, elem_id="qa-remove-choice")
                    remove = gr.Button("Remove", variant="stop", size="md", scale=1, min_width=90,
                                       elem_id="qa-remove")

            with gr.Tab("Evaluate", id="evaluate"):
                gr.Markdown("Score the assistant on a question set (formats: `qa eval --help`). "
                            "Results, a summary and a report are written under `runs/`.")
                with gr.Row():
                    bundled = gr.Radio(list(BUNDLED_SETS), value=next(iter(BUNDLED_SETS)), label="Bundled set",
                                       elem_id="qa-eval-bundled")
                    questions_file = gr.File(label="…or upload a question set (.jsonl, .json, .csv)",
                                             file_types=[".jsonl", ".json", ".csv"], type="filepath",
                                             elem_id="qa-eval-upload")
                with gr.Row():
                    eval_k = gr.Slider(1, 20, value=5, step=1, label="Passages to search")
                    eval_mode = gr.Radio(list(qa.MODES), value="hybrid", label="Retrieval")
                run = gr.Button("Evaluate", variant="primary", elem_id="qa-eval-run")
                figures = gr.HTML(elem_id="qa-eval-figures")
                eval_misses = gr.HTML(elem_id="qa-eval-misses")
                report_files = gr.File(label="Report and results", file_count="multiple", interactive=False,
                                       elem_id="qa-eval-files")

        private = {"api_visibility": "private"}
        asking = {"fn": app.respond, "inputs": [question, turns, k, mode, docs, date_from, date_to],
                  "outputs": [question, chat, turns], **private}
        question.submit(**asking)
        ask.click(**asking)
        chat.example_select(app.pick_example, None, question, **private).then(**asking)
        for clear in (new.click, chat.clear):
            clear(app.new_chat, None, [chat, turns, article, question], **private)
        open_button.click(app.open_source, [open_key, turns], article, **private).then(None, js=render.SCROLL_JS)
        chat.like(app.rate, [turns, feedback], None, **private)

        views = [status, table, docs, to_remove]
        for refresh in (demo.load, documents_tab.select):
            refresh(app.document_views, None, views, **private)
        indexing = {"concurrency_id": "index", "concurrency_limit": 1, **private}
        upload.upload(app.add_files, upload, [*views, upload], **indexing)
        remove.click(app.remove, to_remove, views, **indexing)
        run.click(app.evaluate, [bundled, questions_file, eval_k, eval_mode], [figures, eval_misses, report_files],
                  concurrency_id="evaluate", concurrency_limit=1, **private)
        gr.api(app.ask_api, api_name="ask")
    return demo


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, *, concurrency: int = 4,
          max_file_size: int | None = None, **launch: Any) -> tuple[Any, str, str]:
    """Launch ``demo`` with the page style and script; several sessions are answered at once."""
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    return demo.launch(server_name=host, server_port=port, css=render.PAGE_CSS, js=render.PAGE_JS,
                       theme=gr.themes.Soft(primary_hue="indigo", secondary_hue="slate"),
                       footer_links=[], run_history=False, enable_monitoring=False, show_error=False,
                       max_file_size=max_file_size, **launch)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Serve the question-answering chat in the browser.")
    parser.add_argument("--host", default=env("QA_HOST", "127.0.0.1"),
                        help="Address to listen on (env QA_HOST; default 127.0.0.1, this machine only).")
    parser.add_argument("--port", type=int, default=int(env("QA_PORT", "7860")), help="Port (env QA_PORT; 7860).")
    parser.add_argument("--corpus", type=Path, default=Path(env("QA_CORPUS", qa.DEFAULT_CORPUS)),
                        help="Folder of .txt/.md articles, or a .jsonl file (env QA_CORPUS; corpus/).")
    parser.add_argument("--index", type=Path, default=Path(env("QA_INDEX", qa.DEFAULT_INDEX)),
                        help="Folder of the index, built or refreshed on start (env QA_INDEX; index/).")
    parser.add_argument("--feedback", type=Path, default=Path(env("QA_FEEDBACK", DEFAULT_FEEDBACK)),
                        help="JSON Lines file that thumbs up/down are appended to (env QA_FEEDBACK; feedback.jsonl).")
    parser.add_argument("--concurrency", type=int, default=4, help="Questions answered at the same time (4).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log what the library does.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    configure_logging(args.verbose)
    assistant = qa.Assistant(args.corpus, args.index)
    print(f"Loading the index {args.index} (building or refreshing it if needed)…", file=sys.stderr, flush=True)
    try:
        assistant.load(progress=print_progress)  # loads the model too, so the first answer is prompt
    except USER_ERRORS as exc:
        sys.exit(f"error: {exc}")
    for name, reason in assistant.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    demo = build_app(assistant, args.feedback)
    try:
        _, url, _ = serve(demo, args.host, args.port, concurrency=args.concurrency,
                          max_file_size=assistant.max_file_bytes, prevent_thread_lock=True, quiet=True)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        sys.exit(f"error: cannot serve on {args.host}:{args.port}: {exc}")
    loaded = time.perf_counter() - started
    print(f"Ready: {len(assistant.documents())} documents at {url} (index and model loaded in {loaded:.1f} s)",
          flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
