"""The ``qa`` command line: a thin shell over ``qa.Assistant``."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import click

from qa.assistant import DEFAULT_CORPUS, DEFAULT_INDEX, Assistant
from qa.corpus import CorpusError
from qa.logs import configure_logging
from qa.records import Answer, Turn
from qa.retrieve import MODES
from qa.store import IndexProblem

USER_ERRORS = (CorpusError, IndexProblem, ValueError, KeyError, FileNotFoundError)


def corpus_option(f):
    return click.option("--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS, envvar="QA_CORPUS",
                        show_default="corpus/", show_envvar=True,
                        help="Folder of .txt/.md articles, or a .jsonl file of {id, title, text} records.")(f)


def index_option(f):
    return click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX,
                        envvar="QA_INDEX", show_default="index/", show_envvar=True,
                        help="Folder holding the built index.")(f)


def retrieval_options(f):
    f = click.option("--k", type=click.IntRange(1, 100), default=5, envvar="QA_K", show_default=True,
                     show_envvar=True, help="Number of passages to retrieve.")(f)
    return click.option("--mode", type=click.Choice(MODES), default="hybrid", envvar="QA_MODE",
                        show_default=True, show_envvar=True,
                        help="Retrieval: dense (embeddings), keyword (BM25) or both fused.")(f)


class ProgressBar:
    """A tqdm bar per build stage, on stderr; silent when ``enabled`` is false."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bars: dict[str, object] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="item", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def report_skipped(assistant: Assistant) -> None:
    """One line on stderr for each corpus file that could not be used."""
    for name, reason in assistant.skipped:
        click.echo(f"skipped {name}: {reason}", err=True)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa-offline")
@click.option("-v", "--verbose", is_flag=True, help="Log what the library does.")
def main(verbose: bool) -> None:
    """Ask questions about a folder of articles; every answer cites its exact source passage."""
    configure_logging(verbose)


@main.command()
@corpus_option
@index_option
@click.option("--rebuild", is_flag=True, help="Re-embed every document instead of only the changed ones.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def index(corpus: Path, index_dir: Path, rebuild: bool, progress: bool) -> None:
    """Build or update the index (only added or changed documents are embedded)."""
    assistant = Assistant(corpus, index_dir)
    bar = ProgressBar(progress)
    try:
        report = assistant.refresh(progress=bar, rebuild=rebuild)
    except USER_ERRORS as exc:
        fail(str(exc))
    finally:
        bar.close()
    report_skipped(assistant)
    click.echo(f"index {index_dir}: {report.summary()}")


@main.command()
@click.argument("question")
@corpus_option
@index_option
@retrieval_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--refresh/--no-refresh", default=True, show_default=True,
              help="Rebuild the index first when it is missing or the corpus changed.")
def ask(question: str, corpus: Path, index_dir: Path, k: int, mode: str, as_json: bool, refresh: bool) -> None:
    """Answer QUESTION from the documents, with cited sources."""
    assistant = Assistant(corpus, index_dir, auto_refresh=refresh)
    bar = ProgressBar(not as_json and sys.stderr.isatty())
    try:
        assistant.load(progress=bar)
        answer = assistant.ask(question, k=k, mode=mode)
    except USER_ERRORS as exc:
        fail(str(exc))
    finally:
        bar.close()
    report_skipped(assistant)
    if as_json:
        out = answer.to_dict()
        click.echo(json.dumps({key: out[key] for key in (
            "question", "answer", "short_answer", "abstained", "citations", "closest", "retrieved",
            "confidence", "latency_ms")}, ensure_ascii=False, indent=2))
    else:
        click.echo(format_answer(answer))


@main.command()
@corpus_option
@index_option
@retrieval_options
def chat(corpus: Path, index_dir: Path, k: int, mode: str) -> None:
    """Ask several questions in a row; follow-ups use the conversation ("new" starts over, an empty line quits)."""
    assistant = Assistant(corpus, index_dir)
    bar = ProgressBar(sys.stderr.isatty())
    try:
        assistant.load(progress=bar)
    except USER_ERRORS as exc:
        fail(str(exc))
    finally:
        bar.close()
    report_skipped(assistant)
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
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
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
    assistant = Assistant(corpus, index_dir)
    try:
        hits = assistant.retrieve(query, k=k, mode=mode)
    except USER_ERRORS as exc:
        fail(str(exc))
    for rank, hit in enumerate(hits, 1):
        if as_json:
            click.echo(json.dumps({"rank": rank, **hit.to_dict(), "text": hit.chunk.text}, ensure_ascii=False))
        else:
            doc = assistant.document(hit.chunk.doc)
            click.echo(f"{rank}. {doc.title} ({doc.date or 'undated'}) {hit.chunk.doc} "
                       f"[{hit.chunk.start}:{hit.chunk.end}] score {hit.score:.3f}")
            click.echo(textwrap.indent(textwrap.fill(" ".join(hit.chunk.text.split()), 100), "   "))


def format_answer(answer: Answer) -> str:
    lines = [textwrap.fill(answer.answer, 100), ""]
    sources = answer.closest if answer.abstained else answer.citations
    lines.append("Closest passages:" if answer.abstained else "Sources:")
    for c in sources:
        lines.append(f"[{c.n}] {c.title} ({c.date or 'undated'}), {c.doc}, characters {c.start}-{c.end}")
        before = " ".join(c.text[:c.sentence_start - c.start].split())
        sentence = " ".join(c.sentence.split())
        after = " ".join(c.text[c.sentence_end - c.start:].split())
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
@click.option("--out", type=click.Path(path_type=Path),
              help="Run folder (default: runs/<timestamp>/). A folder holding an interrupted run with the same "
                   "settings is resumed.")
@click.option("--resume", is_flag=True,
              help="Continue the most recently started run under runs/ (unless --out is given).")
@click.option("--compare", nargs=2, type=click.Path(path_type=Path), metavar="RUN_A RUN_B",
              help="Compare two run folders: metric deltas and the questions whose outcome changed "
                   "(written to --out, default RUN_B).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or comparison) as JSON.")
@click.pass_context
def eval_command(ctx: click.Context, questions: Path | None, corpus: Path, index_dir: Path, k: int, mode: str,
                 out: Path | None, resume: bool, compare: tuple[Path, Path] | None, progress: bool,
                 as_json: bool) -> None:
    """Score the assistant on QUESTIONS: JSON Lines (questions or conversations), SQuAD JSON or CSV.

    Writes results.jsonl (one line per question, as it goes), summary.json,
    report.md and report.html to the run folder. A corpus other than the
    project's gets its own index, cached by content under ~/.cache/qa/.
    """
    from qa import evaluate
    from qa.questions import load_questions
    from qa.report import compare_markdown, summary_text

    if compare:
        if questions:
            fail("give either QUESTIONS or --compare RUN_A RUN_B, not both")
        try:
            comparison = evaluate.compare(*compare)
        except USER_ERRORS as exc:
            fail(str(exc))
        target = out or compare[1]
        target.mkdir(parents=True, exist_ok=True)
        stem = f"compare-{compare[0].resolve().name}-vs-{compare[1].resolve().name}"
        text = compare_markdown(comparison)
        (target / f"{stem}.json").write_text(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
        (target / f"{stem}.md").write_text(text, encoding="utf-8")
        click.echo(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) if as_json else text.rstrip())
        return
    if questions is None:
        fail("give a question file (QUESTIONS) or --compare RUN_A RUN_B")
    if out is None and resume:
        started = sorted(evaluate.DEFAULT_RUNS.glob(f"*/{evaluate.SETTINGS}"), key=lambda p: p.stat().st_mtime)
        if not started:
            fail(f"no run to resume under {evaluate.DEFAULT_RUNS}: run without --resume")
        out = started[-1].parent
    out = out or evaluate.DEFAULT_RUNS / time.strftime("%Y%m%d-%H%M%S")
    own_index = ctx.get_parameter_source("index_dir") is click.core.ParameterSource.DEFAULT
    if own_index and corpus.exists() and corpus.resolve() != DEFAULT_CORPUS.resolve():
        index_dir = evaluate.cached_index(corpus)
    build_bar, question_bar = ProgressBar(progress), QuestionBar(progress)
    try:
        question_set = load_questions(questions)
        assistant = Assistant(corpus, index_dir).load(progress=build_bar)
        build_bar.close()
        summary = evaluate.run_eval(assistant, question_set, out, k=k, mode=mode, progress=question_bar)
    except KeyboardInterrupt:
        fail(f"interrupted: the answers so far are in {out}; run again with --out {out} to continue")
    except USER_ERRORS as exc:
        fail(str(exc))
    finally:
        build_bar.close()
        question_bar.close()
    for qid, problem in summary.evidence_not_found:
        click.echo(f"evidence not found for {qid}: {problem}", err=True)
    click.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) if as_json else summary_text(summary))


class QuestionBar:
    """A tqdm bar over the questions of an evaluation (rate and time left), on stderr."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, initial=done, desc="questions", unit="q", file=sys.stderr)
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


if __name__ == "__main__":
    main()
