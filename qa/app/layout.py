"""The page: the Ask, Documents and Evaluate tabs, wired to a ``ChatApp``'s handlers, and its launch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from qa.accounts import Accounts, require_safe_host
from qa.app import render
from qa.app.auth import is_editor
from qa.app.handlers import BUNDLED_SETS, REMOVE_INFO, ChatApp
from qa.assistant import Assistant
from qa.corpus import DOCUMENT_SUFFIXES
from qa.feedback import DEFAULT_FEEDBACK
from qa.retrieve import MODES

EXAMPLES = (
    "Which Japanese foreign minister did Russia ban in 2025?",
    "How many Japanese individuals did Russia bar indefinitely in May 2022?",
    "Who became Japan's prime minister in October 2025?",
    "What did Japan pledge to Ukraine in March 2022?",
)
HEADER = (
    '<div class="qa-header"><h1>Ask the news archive</h1><p>Answers come only from the articles in the '
    "collection, quoted and cited. Click a source to read it in full.</p></div>"
)
PLACEHOLDER = (
    "**Ask a question about the articles.** Every answer quotes its sources; follow-up questions use the conversation."
)
QUEUE_SIZE = 64  # requests that may wait; beyond this Gradio refuses new ones instead of queueing without end
# Seconds between telling waiting people their place in the queue. Gradio's "auto" tells every waiting
# client after every finished question, messages growing with the square of the crowd: at 50 API clients
# that cost ~40 ms of server CPU a question against ~28 ms with a 1 s tick (benchmarks/load.py, 2 cores).
QUEUE_STATUS_EVERY = 1.0
# Gradio rebuilds a pandas summary of its last 10,000 events after every event for its monitoring page
# (off here): ~3 ms a question at first, ~13 ms once 10,000 are kept. Rebuilt once per this many events.
EVENT_SUMMARY_EVERY = 100_000


def build_app(
    assistant: Assistant,
    feedback_path: Path | str = DEFAULT_FEEDBACK,
    runs_dir: Path | str | None = None,
    accounts: Accounts | None = None,
) -> gr.Blocks:
    """The chat, documents and evaluate views for ``assistant`` (not launched; see ``serve``).

    Evaluation runs go under ``runs_dir`` (default: ``runs`` beside the index). With ``accounts``
    (launch it with the same ones), only editors see the Evaluate tab or may change documents."""
    app = ChatApp(assistant, Path(feedback_path), Path(runs_dir) if runs_dir is not None else None, accounts)
    # analytics_enabled=False: no telemetry or version check from the server, whatever the environment says.
    with gr.Blocks(title="News archive Q&A", analytics_enabled=False) as demo:
        turns = gr.State([])
        gr.HTML(HEADER)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=340):
                        chat = gr.Chatbot(
                            show_label=False,
                            elem_id="qa-chat",
                            height="60vh",
                            min_height=320,
                            placeholder=PLACEHOLDER,
                            examples=[{"text": q} for q in EXAMPLES],
                            buttons=[],
                            layout="panel",
                            latex_delimiters=[],  # a document's "$$" is text, not a formula
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask about the articles…",
                                show_label=False,
                                container=False,
                                scale=6,
                                min_width=180,
                                autofocus=True,
                                elem_id="qa-question",
                            )
                            ask = gr.Button(
                                "Ask", variant="primary", size="md", scale=1, min_width=70, elem_id="qa-ask"
                            )
                            new = gr.Button("New chat", size="md", scale=1, min_width=100, elem_id="qa-new-chat")
                        with gr.Accordion("Options", open=False, elem_id="qa-options"):
                            k = gr.Slider(1, 20, value=5, step=1, label="Passages to search")
                            mode = gr.Radio(
                                list(MODES),
                                value="hybrid",
                                label="Retrieval",
                                info="hybrid: meaning and words; dense: meaning; keyword: exact words",
                            )
                            docs = gr.Dropdown(
                                multiselect=True,
                                label="Only these documents",
                                info="Leave empty to search them all.",
                                elem_id="qa-only-docs",
                            )
                            with gr.Row():
                                date_from = gr.Textbox(
                                    label="From",
                                    placeholder="YYYY-MM-DD",
                                    min_width=120,
                                    info="Undated articles are left out of a date range.",
                                )
                                date_to = gr.Textbox(label="To", placeholder="YYYY-MM-DD", min_width=120)
                            feedback = gr.Textbox(str(feedback_path), label="Feedback file (JSON Lines)")
                    with gr.Column(scale=2, min_width=300):
                        article = gr.HTML(render.article_placeholder(), elem_id="qa-article")
                        original = gr.DownloadButton(visible=False, size="sm", elem_id="qa-download")
                open_key = gr.Textbox(visible="hidden", elem_id="qa-open-key")
                open_button = gr.Button(visible="hidden", elem_id="qa-open-button")
            with gr.Tab("Documents", id="documents") as documents_tab:
                table = gr.HTML(elem_id="qa-doc-table")
                with gr.Column(elem_id="qa-doc-editing") as editing:  # shown to editors only, with accounts
                    upload = gr.File(
                        label="Add articles (.txt, .md, .pdf, .html or .docx)",
                        file_count="multiple",
                        file_types=list(DOCUMENT_SUFFIXES),
                        type="filepath",
                        elem_id="qa-upload",
                    )
                    status = gr.HTML(elem_id="qa-doc-status")
                    pending = gr.State(None)  # the replacement or removal waiting to be confirmed (handlers.Pending)
                    with gr.Column(visible=False, elem_id="qa-confirm-box") as confirm_box:
                        confirm_question = gr.HTML(elem_id="qa-confirm-question")
                        with gr.Row():
                            confirm = gr.Button(
                                "Replace", variant="stop", size="md", scale=0, min_width=150, elem_id="qa-confirm"
                            )
                            cancel = gr.Button("Cancel", size="md", scale=0, min_width=100, elem_id="qa-cancel")
                    with gr.Row(equal_height=True):
                        to_remove = gr.Dropdown(
                            label="Remove a document", info=REMOVE_INFO, scale=4, elem_id="qa-remove-choice"
                        )
                        remove = gr.Button(
                            "Remove…", variant="stop", size="md", scale=1, min_width=90, elem_id="qa-remove"
                        )
                    with gr.Accordion("Trash", open=False, elem_id="qa-trash"):
                        with gr.Row(equal_height=True):
                            to_restore = gr.Dropdown(
                                label="Removed and replaced files", scale=4, elem_id="qa-restore-choice"
                            )
                            restore = gr.Button("Restore", size="md", scale=1, min_width=90, elem_id="qa-restore")

            with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
                gr.Markdown(
                    "Score the assistant on a question set (formats: `qa eval --help`). "
                    f"Results, a summary and a report are written under `{app.runs_dir}`."
                )
                with gr.Row():
                    bundled = gr.Radio(
                        list(BUNDLED_SETS),
                        value=next(iter(BUNDLED_SETS)),
                        label="Bundled set",
                        elem_id="qa-eval-bundled",
                    )
                    questions_file = gr.File(
                        label="…or upload a question set (.jsonl, .json, .csv)",
                        file_types=[".jsonl", ".json", ".csv"],
                        type="filepath",
                        elem_id="qa-eval-upload",
                    )
                with gr.Row():
                    eval_k = gr.Slider(1, 20, value=5, step=1, label="Passages to search")
                    eval_mode = gr.Radio(list(MODES), value="hybrid", label="Retrieval")
                run = gr.Button("Evaluate", variant="primary", elem_id="qa-eval-run")
                figures = gr.HTML(elem_id="qa-eval-figures")
                eval_misses = gr.HTML(elem_id="qa-eval-misses")
                report_files = gr.File(
                    label="Report and results", file_count="multiple", interactive=False, elem_id="qa-eval-files"
                )

        private = {"api_visibility": "private"}
        # Every way of asking shares one pool of workers, as many as serve's `concurrency` (one per core).
        questions = {"concurrency_id": "questions", "concurrency_limit": "default"}
        asking = {
            "fn": app.respond,
            "inputs": [question, turns, k, mode, docs, date_from, date_to],
            "outputs": [question, chat, turns],
            **questions,
            **private,
        }
        question.submit(**asking)
        ask.click(**asking)
        chat.example_select(app.pick_example, None, question, **private).then(**asking)
        for clear in (new.click, chat.clear):
            clear(app.new_chat, None, [chat, turns, article, question, original], **private)
        opened = open_button.click(app.open_source, [open_key, turns], [article, original], **private)
        opened.then(None, js=render.SCROLL_JS)
        chat.like(app.rate, [turns, feedback], None, **private)

        views = [status, table, docs, to_remove, to_restore]
        for refresh in (demo.load, documents_tab.select):
            refresh(app.document_views, None, views, **private)
        changes = [*views, upload, pending, confirm_box, confirm_question, confirm]  # what a change updates, in order
        # One change at a time; its progress is the status line (questions go on meanwhile, from the last index).
        indexing = {"concurrency_id": "index", "concurrency_limit": 1, "show_progress": "hidden", **private}
        upload.upload(app.add_files, upload, changes, **indexing)
        remove.click(app.ask_remove, to_remove, changes, **private)
        confirm.click(app.confirm, pending, changes, **indexing)
        cancel.click(app.cancel, pending, changes, **private)
        restore.click(app.restore, to_restore, changes, **indexing)
        if accounts is not None:  # readers see the documents, not the controls that change them (refused anyway)

            def editing_shown(request: gr.Request) -> Any:
                return gr.Column(visible=is_editor(request, accounts))

            demo.load(editing_shown, None, editing, **private)
        run.click(
            app.evaluate,
            [bundled, questions_file, eval_k, eval_mode],
            [figures, eval_misses, report_files],
            concurrency_id="evaluate",
            concurrency_limit=1,
            **private,
        )
        gr.api(app.ask_api, api_name="ask", **questions)
        if accounts is not None:  # readers cannot open the Evaluate tab (its handler refuses them anyway)

            def editors_only(request: gr.Request) -> Any:
                # Disabled rather than hidden: Gradio 6.31 does not hide a tab when an event makes it invisible.
                if is_editor(request, accounts):
                    return gr.skip()
                return gr.Tab(label="Evaluate (editors only)", interactive=False)

            demo.load(editors_only, None, evaluate_tab, **private)
    return demo


def serve(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    concurrency: int | None = None,
    max_file_size: int | None = None,
    accounts: Accounts | None = None,
    open_to_network: bool = False,
    **launch: Any,
) -> tuple[Any, str, str]:
    """Launch ``demo`` with the page style and script; questions are answered ``concurrency`` at a time
    (default: one per CPU core this process may use), the rest wait in Gradio's queue.

    With ``accounts``, people sign in first (Gradio's login page). Without them, a ``host`` other machines
    can reach is refused (``AccountsError``) unless ``open_to_network``. Returns Gradio's
    ``(app, local_url, share_url)``; raises ``OSError`` when the port cannot be bound.
    """
    require_safe_host(host, accounts, open_to_network)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(EVENT_SUMMARY_EVERY))  # read by demo.queue
    demo.queue(
        default_concurrency_limit=concurrency or cores, max_size=QUEUE_SIZE, status_update_rate=QUEUE_STATUS_EVERY
    )
    return demo.launch(
        auth=accounts.check if accounts is not None else None,
        auth_message="Sign in with the account you were given for this archive." if accounts is not None else None,
        server_name=host,
        server_port=port,
        css=render.PAGE_CSS,
        js=render.PAGE_JS,
        theme=gr.themes.Soft(primary_hue="indigo", secondary_hue="slate"),
        footer_links=[],
        run_history=False,
        enable_monitoring=False,
        show_error=False,
        max_file_size=max_file_size,
        **launch,
    )
