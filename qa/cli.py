"""The ``qa`` command line: a thin shell over ``qa.Assistant``, and ``qa serve`` for the browser app.

Every command reads the corpus and index from the same options and environment
variables. An error a person can cause (``qa.errors.UserError``) is caught in
one place, the ``qa`` group, and ends the command with ``error: <message>`` on
stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from qa.accounts import READER, ROLES, Accounts, add_account, is_loopback, require_safe_host
from qa.assistant import DEFAULT_CORPUS, DEFAULT_INDEX, SCORERS, Assistant
from qa.engines import StoreSpec
from qa.errors import UserError
from qa.eval import SETTINGS, cached_index, compare, load_questions, run_eval, runs_beside
from qa.eval.report import compare_markdown, summary_text
from qa.feedback import DEFAULT_FEEDBACK
from qa.logs import configure_logging
from qa.progress import Progress, StageProgress
from qa.records import Answer, Turn
from qa.retrieve import MODES


class Failure(click.ClickException):
    """Ends a command with ``error: <message>`` on stderr and exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        say_error(self.format_message())


class Shell(click.Group):
    """The ``qa`` group: a ``UserError`` raised while any command runs ends it as a ``Failure``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise Failure(str(exc)) from None


def say_error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def fail(message: str) -> NoReturn:
    raise Failure(message)


# -- options shared by the commands -------------------------------------------------------------


def corpus_option(f):
    return click.option(
        "--corpus",
        type=click.Path(path_type=Path),
        default=DEFAULT_CORPUS,
        envvar="QA_CORPUS",
        show_default="corpus/",
        show_envvar=True,
        help="Folder of articles (.txt, .md, .pdf, .html, .docx), or a .jsonl file of {id, title, text} records.",
    )(f)


def index_option(f):
    """``--index``, and ``--store`` beside it, handed to every assistant the command makes."""
    f = click.option(
        "--store",
        default="faiss",
        envvar="QA_STORE",
        show_default=True,
        show_envvar=True,
        expose_value=False,
        callback=_remember_store,
        help="Where the vectors and keyword index live: faiss (files in --index), milvus-lite:PATH "
        "(Milvus Lite in this process) or milvus://HOST:PORT (a Milvus server or cluster).",
    )(f)
    return click.option(
        "--index",
        "index_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_INDEX,
        envvar="QA_INDEX",
        show_default="index/",
        show_envvar=True,
        help="Folder holding the built index.",
    )(f)


def runs_option(f):
    return click.option(
        "--runs",
        "runs_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="QA_RUNS",
        show_envvar=True,
        help="Folder that evaluation runs are written under [default: runs/ beside the --index folder].",
    )(f)


def runs_folder(runs_dir: Path | None, index_dir: Path) -> Path:
    """``--runs``, or the ``runs`` folder beside the index (the project's runs/ for the project's index/)."""
    return runs_dir if runs_dir is not None else runs_beside(index_dir)


def retrieval_options(f):
    f = click.option(
        "--k",
        type=click.IntRange(1, 100),
        default=5,
        envvar="QA_K",
        show_default=True,
        show_envvar=True,
        help="Number of passages to retrieve.",
    )(f)
    return click.option(
        "--mode",
        type=click.Choice(MODES),
        default="hybrid",
        envvar="QA_MODE",
        show_default=True,
        show_envvar=True,
        help="Retrieval: dense (embeddings), keyword (BM25) or both fused.",
    )(f)


def _remember_store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    try:
        ctx.meta["store"] = StoreSpec.parse(value)
    except UserError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def new_assistant(corpus: Path, index_dir: Path, **options: Any) -> Assistant:
    """An assistant on the command's corpus, index and ``--store``."""
    ctx = click.get_current_context(silent=True)
    store = ctx.meta.get("store", "faiss") if ctx else "faiss"
    return Assistant(corpus, index_dir, store=store, **options)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault("answering", {})[param.name] = value
    return value


def answering_options(f):
    """``--scorer`` and ``--min-confidence``, handed to every assistant the command makes."""
    f = click.option(
        "--min-confidence",
        "threshold",
        type=click.FloatRange(0, 1),
        envvar="QA_MIN_CONFIDENCE",
        show_envvar=True,
        expose_value=False,
        callback=_remember,
        help="Decline below this confidence (default: the scorer's own, chosen on SQuAD train articles).",
    )(f)
    return click.option(
        "--scorer",
        type=click.Choice(SCORERS),
        default="features",
        envvar="QA_SCORER",
        show_default=True,
        show_envvar=True,
        expose_value=False,
        callback=_remember,
        help="How answer sentences are scored: hand-set features, or the trained verifier with a calibrated "
        "confidence (slower).",
    )(f)


def progress_option(f):
    return click.option(
        "--progress/--no-progress",
        default=True,
        help="Show progress: a bar on a terminal, a line per tenth of the work otherwise.",
    )(f)


def load_assistant(corpus: Path, index_dir: Path, progress: bool, **options: Any) -> Assistant:
    """The assistant with its index and model loaded (the index built or refreshed first when needed);
    each corpus file that could not be used is named on stderr."""
    ctx = click.get_current_context(silent=True)
    answering = {k: v for k, v in (ctx.meta.get("answering", {}) if ctx else {}).items() if v is not None}
    assistant = new_assistant(corpus, index_dir, **answering, **options)
    with StageProgress(enabled=progress) as bar:
        assistant.load(progress=bar)
    report_skipped(assistant)
    return assistant


def report_skipped(assistant: Assistant) -> None:
    """One line on stderr for each corpus file that could not be used."""
    for name, reason in assistant.skipped:
        click.echo(f"skipped {name}: {reason}", err=True)


# -- commands -----------------------------------------------------------------------------------


@click.group(cls=Shell, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa-offline")
@click.option("-v", "--verbose", is_flag=True, help="Log what the library does.")
def main(verbose: bool) -> None:
    """Ask questions about a folder of articles; every answer cites its exact source passage."""
    configure_logging(verbose)


@main.command()
@corpus_option
@index_option
@click.option("--rebuild", is_flag=True, help="Re-embed every document instead of only the changed ones.")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Take the vectors of unchanged documents from this index folder (e.g. move a FAISS index to "
    "Milvus with --store milvus://HOST:PORT --from index/).",
)
@progress_option
def index(corpus: Path, index_dir: Path, rebuild: bool, source: Path | None, progress: bool) -> None:
    """Build or update the index (only added or changed documents are embedded)."""
    if rebuild and source is not None:
        fail("give --rebuild (embed everything again) or --from (reuse another index's vectors), not both")
    assistant = new_assistant(corpus, index_dir)
    with StageProgress(enabled=progress) as bar:
        report = assistant.refresh(progress=bar, rebuild=rebuild, source=source)
    report_skipped(assistant)
    click.echo(f"index {index_dir}: {report.summary()}")


@main.command()
@click.argument("question")
@corpus_option
@index_option
@retrieval_options
@answering_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Rebuild the index first when it is missing or the corpus changed.",
)
def ask(question: str, corpus: Path, index_dir: Path, k: int, mode: str, as_json: bool, refresh: bool) -> None:
    """Answer QUESTION from the documents, with cited sources."""
    assistant = load_assistant(corpus, index_dir, progress=not as_json and sys.stderr.isatty(), auto_refresh=refresh)
    answer = assistant.ask(question, k=k, mode=mode)
    if as_json:
        out = answer.to_dict()
        for c in out["citations"] + out["closest"]:
            c["offsets_in"] = assistant.text_source(c["doc"])  # the text whose [start:end] is the passage
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(format_answer(answer))


@main.command()
@corpus_option
@index_option
@retrieval_options
@answering_options
def chat(corpus: Path, index_dir: Path, k: int, mode: str) -> None:
    """Ask several questions in a row; follow-ups use the conversation ("new" starts over, an empty line quits)."""
    assistant = load_assistant(corpus, index_dir, progress=sys.stderr.isatty())
    history: list[Turn] = []
    while True:
        question = click.prompt("?", default="", show_default=False, prompt_suffix=" ").strip()
        if not question:
            return
        if question.lower() == "new":
            history.clear()
            click.echo("(new conversation)")
            continue
        try:
            answer = assistant.ask(question, history=history, k=k, mode=mode)
        except UserError as exc:  # one bad question does not end the conversation
            say_error(str(exc))
            continue
        history.append(Turn(question, answer))
        click.echo(format_answer(answer) + "\n")


@main.command()
@click.argument("query")
@corpus_option
@index_option
@retrieval_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one passage a line.")
def retrieve(query: str, corpus: Path, index_dir: Path, k: int, mode: str, as_json: bool) -> None:
    """Show the passages retrieved for QUERY, with their exact spans and scores."""
    assistant = new_assistant(corpus, index_dir)
    for rank, hit in enumerate(assistant.retrieve(query, k=k, mode=mode), 1):
        doc = assistant.document(hit.chunk.doc)
        if as_json:
            pages = doc.page_range(hit.chunk.start, hit.chunk.end)
            record = {"rank": rank, **hit.to_dict(), "text": hit.chunk.text, "kind": doc.kind, "pages": pages}
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(
                f"{rank}. {doc.title} ({doc.date or 'undated'}) {hit.chunk.doc} "
                f"[{hit.chunk.start}:{hit.chunk.end}] score {hit.score:.3f}"
            )
            click.echo(textwrap.indent(textwrap.fill(" ".join(hit.chunk.text.split()), 100), "   "))


def format_answer(answer: Answer) -> str:
    lines = [textwrap.fill(answer.answer, 100), ""]
    sources = answer.closest if answer.abstained else answer.citations
    lines.append("Closest passages:" if answer.abstained else "Sources:")
    for c in sources:
        where = f"{c.doc}, {c.page_label}" if c.pages else c.doc
        lines.append(f"[{c.n}] {c.title} ({c.date or 'undated'}), {where}, characters {c.start}-{c.end}")
        before = " ".join(c.text[: c.sentence_start - c.start].split())
        sentence = " ".join(c.sentence.split())
        after = " ".join(c.text[c.sentence_end - c.start :].split())
        marked = " ".join(p for p in (_tail(before), f">>> {sentence} <<<", _head(after)) if p)
        lines.append(textwrap.indent(textwrap.fill(marked, 96), "    "))
    lines.append(f"({answer.latency_ms:.0f} ms)")
    return "\n".join(lines)


def _tail(text: str, words: int = 25) -> str:
    parts = text.split()
    return ("… " if len(parts) > words else "") + " ".join(parts[-words:])


def _head(text: str, words: int = 25) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


@main.command("eval")
@click.argument("questions", required=False, type=click.Path(path_type=Path))
@corpus_option
@index_option
@retrieval_options
@answering_options
@runs_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run folder (default: <runs>/<timestamp>/). A folder holding an interrupted run with the same "
    "settings is resumed.",
)
@click.option(
    "--resume", is_flag=True, help="Continue the most recently started run under --runs (unless --out is given)."
)
@click.option(
    "--compare",
    "runs",
    nargs=2,
    type=click.Path(path_type=Path),
    metavar="RUN_A RUN_B",
    help="Compare two run folders: metric deltas and the questions whose outcome changed "
    "(written to --out, default RUN_B).",
)
@click.option(
    "--split",
    metavar="FILE:NAME",
    help="Ask only the questions about the articles listed under NAME in the JSON file FILE, e.g. "
    "eval/squad-splits.json:test (a question's article is its first doc id up to '#', or its "
    "source_doc_id). The run records it: a resume with another split is refused.",
)
@progress_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or comparison) as JSON.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    questions: Path | None,
    corpus: Path,
    index_dir: Path,
    k: int,
    mode: str,
    runs_dir: Path | None,
    out: Path | None,
    resume: bool,
    runs: tuple[Path, Path] | None,
    split: str | None,
    progress: bool,
    as_json: bool,
) -> None:
    """Score the assistant on QUESTIONS: JSON Lines (questions or conversations), SQuAD JSON or CSV.

    Writes results.jsonl (one line per question, as it goes), summary.json,
    report.md and report.html to the run folder. A corpus other than the
    project's (or the project's with another --store) gets its own index, cached by content
    under ~/.cache/qa/.
    """
    if runs:
        if questions or split:
            fail("give either QUESTIONS (and --split) or --compare RUN_A RUN_B, not both")
        compare_command(*runs, out=out, as_json=as_json)
        return
    if questions is None:
        fail("give a question file (QUESTIONS) or --compare RUN_A RUN_B")
    runs_dir = runs_folder(runs_dir, index_dir)
    if out is None and resume:
        started = sorted(runs_dir.glob(f"*/{SETTINGS}"), key=lambda p: p.stat().st_mtime)
        if not started:
            fail(f"no run to resume under {runs_dir}: run without --resume")
        out = started[-1].parent
    out = out or runs_dir / time.strftime("%Y%m%d-%H%M%S")
    own_index = ctx.get_parameter_source("index_dir") is click.core.ParameterSource.DEFAULT
    store = ctx.meta.get("store") or StoreSpec("faiss")
    other_store = store.engine != "faiss"  # the project's index/ stays as it is
    if own_index and corpus.exists() and (corpus.resolve() != DEFAULT_CORPUS.resolve() or other_store):
        index_dir = cached_index(corpus, store)
    question_set = load_questions(questions, split=split)
    assistant = load_assistant(corpus, index_dir, progress=progress)
    try:
        with Progress("questions", unit="q", enabled=progress) as bar:
            summary = run_eval(assistant, question_set, out, k=k, mode=mode, progress=bar)
    except KeyboardInterrupt:
        fail(f"interrupted: the answers so far are in {out}; run again with --out {out} to continue")
    for qid, problem in summary.evidence_not_found:
        click.echo(f"evidence not found for {qid}: {problem}", err=True)
    click.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) if as_json else summary_text(summary))


def compare_command(run_a: Path, run_b: Path, out: Path | None, as_json: bool) -> None:
    """``qa eval --compare``: write the comparison beside the runs (or to ``out``) and print it."""
    comparison = compare(run_a, run_b)
    target = out or run_b
    target.mkdir(parents=True, exist_ok=True)
    stem = f"compare-{run_a.resolve().name}-vs-{run_b.resolve().name}"
    as_dict = json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False)
    text = compare_markdown(comparison)
    (target / f"{stem}.json").write_text(as_dict + "\n", encoding="utf-8")
    (target / f"{stem}.md").write_text(text, encoding="utf-8")
    click.echo(as_dict if as_json else text.rstrip())


@main.command("serve")
@corpus_option
@index_option
@answering_options
@click.option(
    "--host",
    default="127.0.0.1",
    envvar="QA_HOST",
    show_default=True,
    show_envvar=True,
    help="Address to listen on; 127.0.0.1 is this machine only.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=7860,
    envvar="QA_PORT",
    show_default=True,
    show_envvar=True,
    help="Port to listen on.",
)
@click.option(
    "--feedback",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_FEEDBACK,
    envvar="QA_FEEDBACK",
    show_default="feedback.jsonl",
    show_envvar=True,
    help="JSON Lines file that thumbs up/down are appended to.",
)
@runs_option
@click.option(
    "--auth",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="QA_AUTH",
    show_envvar=True,
    help="Accounts file (user:role:password-hash lines, made with `qa adduser`): people sign in, and only "
    "editors may change the documents or run evaluations. Needed on any --host but this machine's.",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve on a --host other machines can reach without accounts: anyone who reaches it may change the documents.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Questions answered at the same time [default: one per CPU core].",
)
@progress_option
@click.option("-v", "--verbose", is_flag=True, help="Log what the library does (as `qa -v serve`).")
def serve_command(
    corpus: Path,
    index_dir: Path,
    host: str,
    port: int,
    feedback: Path,
    runs_dir: Path | None,
    auth: Path | None,
    no_auth: bool,
    concurrency: int | None,
    progress: bool,
    verbose: bool,
) -> None:
    """Serve the chat in the browser: ask, read the cited articles, add documents, evaluate.

    Loads the index first (building or refreshing it when needed) and the model,
    so the first answer is prompt, then prints "Ready: ..." with the address.
    `python app.py` runs this command.
    """
    started = time.perf_counter()
    if verbose:
        configure_logging(verbose)
    if auth is not None and no_auth:
        fail("give either --auth FILE or --no-auth, not both")
    accounts = Accounts(auth) if auth is not None else None  # a bad file stops here, before anything loads
    require_safe_host(host, accounts, open_to_network=no_auth)
    from qa.app import build_app, serve  # Gradio takes seconds to import; only this command needs it

    click.echo(f"Loading the index {index_dir} (building or refreshing it if needed)…", err=True)
    assistant = load_assistant(corpus, index_dir, progress=progress)
    demo = build_app(assistant, feedback, runs_folder(runs_dir, index_dir), accounts=accounts)
    try:
        _, url, _ = serve(
            demo,
            host,
            port,
            concurrency=concurrency,
            max_file_size=assistant.max_upload_bytes,
            accounts=accounts,
            open_to_network=no_auth,
            prevent_thread_lock=True,
            quiet=True,
        )
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise UserError(f"cannot serve on {host}:{port}: {exc}") from None
    loaded = time.perf_counter() - started
    if accounts is not None:
        click.echo(f"Sign-in required: accounts from {auth}.", err=True)
    elif not is_loopback(host):
        click.echo(f"Open to anyone who can reach {host} (--no-auth): they may change the documents.", err=True)
    click.echo(f"Ready: {len(assistant.documents())} documents at {url} (index and model loaded in {loaded:.1f} s)")
    demo.block_thread()


@main.command("adduser")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("user")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=READER,
    show_default=True,
    help="editor: may also change the documents and run evaluations; reader: may ask.",
)
def adduser_command(file: Path, user: str, role: str) -> None:
    """Add USER to the accounts FILE of `qa serve --auth FILE`, or give them a new role and password.

    Asks for the password twice on a terminal; otherwise reads it from the
    first line of standard input (for scripts). The file keeps only a salted
    scrypt hash of it. A running app reads the changed file: no restart.
    """
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    existed = add_account(file, user, role, password)
    click.echo(f"{'updated' if existed else 'added'} {user} ({role}) in {file}")


if __name__ == "__main__":
    main()
