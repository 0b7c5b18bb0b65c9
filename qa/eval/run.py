"""Running an evaluation: ask every question of a set through ``Assistant.ask`` and score the answers.

What is scored is what a person sees: each answer is ``assistant.ask(question,
history, k, mode)`` with the user's ``k``, asked with ``depth=DEPTH`` so that the
same search also gives the ten-deep ranking the retrieval metrics need
(``Answer.ranking``, whose first ``k`` passages are the answer's own). Latency is
``ask``'s own wall time; one untimed question is asked first so that the figures
exclude loading the model.

Results are written to the run folder as they come (see ``qa.eval.records``).
Running again into a folder with results resumes: finished questions (whole
conversations) are kept, the rest are asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from qa.assistant import DEFAULT_INDEX, Assistant
from qa.corpus import MAX_FILE_BYTES
from qa.corpus_files import CorpusFile, corpus_files, read_corpus_file
from qa.errors import QuestionError, RunMismatch
from qa.eval.metrics import DEPTH, Result, by_type, compute, read_results
from qa.eval.questions import GoldSpan, Question, QuestionSet, Split, resolve
from qa.eval.records import MUST_MATCH, RESULTS, SETTINGS, SUMMARY, RunSettings, Summary
from qa.eval.report import write_reports
from qa.onnx_models import cache_dir
from qa.records import Answer, Turn

log = logging.getLogger(__name__)


def runs_beside(index_dir: Path | str) -> Path:
    """Where evaluation runs go unless told: a ``runs`` folder beside the index folder."""
    return Path(index_dir).parent / "runs"


DEFAULT_RUNS = runs_beside(DEFAULT_INDEX)
ProgressCallback = Callable[[int, int], None]  # (questions done, total)
_PACKAGES = ("qa-offline", "sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s", "numpy")
Gold = tuple[tuple[GoldSpan, ...], tuple[str, ...]]  # a question's resolved evidence, and what could not be found


def run_eval(
    assistant: Assistant,
    questions: QuestionSet,
    out_dir: Path | str,
    k: int = 5,
    mode: str = "hybrid",
    progress: ProgressCallback | None = None,
    split: Split | str | None = None,
) -> Summary:
    """Ask every question, write results as they come, then the summary and reports.

    With ``split`` (a ``Split``, or ``FILE:NAME`` such as ``eval/squad-splits.json:test``),
    only the questions about its articles are asked; the run's settings record it.
    Resumes when ``out_dir`` already holds results of a run with the same
    settings; raises ``RunMismatch`` when it holds a run with other settings.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if split is not None:
        questions = questions.only_split(split)
    settings = _settings(assistant, questions, k, mode)
    _claim(out_dir, settings)
    done = _resume(out_dir / RESULTS, questions)
    ordered = {q.id: i for i, q in enumerate(questions.questions)}
    gold = {q.id: resolve(q, _text_of(assistant)) for q in questions.questions}
    for qid, (_, problems) in gold.items():
        for problem in problems:
            log.warning("question %s: %s", qid, problem)
    total, count = len(ordered), len(done)
    if count < total:  # untimed, so that latency excludes loading the model and first-call set-up
        with contextlib.suppress(QuestionError):
            assistant.ask(questions.questions[0].question, k=k, mode=mode)
    if progress:
        progress(count, total)
    with open(out_dir / RESULTS, "a", encoding="utf-8") as out:
        for group in questions.groups:
            if group[0].id in done:
                continue
            for result in _ask_group(assistant, group, gold, k, mode):
                out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
                out.flush()
                count += 1
                if progress:
                    progress(count, total)
    results = sorted(read_results(out_dir / RESULTS), key=lambda r: ordered[r.id])
    summary = Summary(
        out_dir=out_dir,
        settings=settings,
        overall=compute(results),
        by_type=by_type(results),
        questions_total=total,
        evidence_not_found=tuple((r.id, p) for r in results for p in r.evidence_problems),
        seconds=time.perf_counter() - started,
        resumed=len(done),
        answering=assistant.describe(),
        versions=versions(),
    )
    _write_json(out_dir / SUMMARY, summary.to_dict())
    write_reports(summary, results, out_dir)
    return summary


def _ask_group(
    assistant: Assistant, group: tuple[Question, ...], gold: dict[str, Gold], k: int, mode: str
) -> Iterator[Result]:
    """Answer a conversation's turns in order, each with the ones before it as history."""
    history: list[Turn] = []
    for q in group:
        try:
            answer = assistant.ask(q.question, history=history, k=k, mode=mode, depth=DEPTH)
        except QuestionError as exc:  # e.g. a language the model does not read: declined, as a person sees it
            answer = Answer(q.question, str(exc), None, True, (), (), 0.0)
        evidence, problems = gold[q.id]
        yield _result(q, answer, k, evidence, problems)
        history.append(Turn(q.question, answer))


def _result(q: Question, answer: Answer, k: int, evidence: tuple[GoldSpan, ...], problems: tuple[str, ...]) -> Result:
    own = [h.chunk.id for h in answer.retrieved]
    return Result(
        id=q.id,
        question=q.question,
        type=q.type,
        answers=q.answers,
        evidence=evidence,
        evidence_problems=problems,
        answer=answer.answer,
        short_answer=answer.short_answer,
        abstained=answer.abstained,
        citations=answer.citations,
        retrieved=tuple(h.ref() for h in answer.ranking),
        answer_k=k,
        latency_ms=answer.latency_ms,
        conversation=q.conversation,
        turn=q.turn,
        ranking_matches_answer=own == [h.chunk.id for h in answer.ranking[: len(own)]],
        confidence=answer.confidence,
        fields=q.fields,
    )


def _text_of(assistant: Assistant) -> Callable[[str], str | None]:
    def text_of(doc: str) -> str | None:
        try:
            return assistant.document(doc).text
        except KeyError:
            return None

    return text_of


def _settings(assistant: Assistant, questions: QuestionSet, k: int, mode: str) -> RunSettings:
    manifest = assistant.manifest
    return RunSettings(
        questions=str(questions.path),
        questions_sha256=questions.sha256,
        k=k,
        mode=mode,
        depth=max(k, DEPTH),
        corpus=str(assistant.corpus),
        index=str(assistant.index_dir),
        model=assistant.embedder.name,
        dimension=assistant.embedder.dimension,
        index_fingerprint=manifest.fingerprint,
        index_created=manifest.created,
        split=questions.split,
    )


def _claim(out_dir: Path, settings: RunSettings) -> None:
    """Start a run in ``out_dir``, or check that the run already there is this one."""
    path = out_dir / SETTINGS
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        now = asdict(settings)
        diff = [f"{key} {before.get(key)!r} → {now[key]!r}" for key in MUST_MATCH if before.get(key) != now[key]]
        if diff:
            raise RunMismatch(
                f"{out_dir} holds a run with other settings ({'; '.join(diff)}): pass another --out to start a new run"
            )
        return
    if (out_dir / RESULTS).exists():
        raise RunMismatch(f"{out_dir} holds results but no {SETTINGS}: pass another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(path, asdict(settings))


def _resume(path: Path, questions: QuestionSet) -> dict[str, Result]:
    """Keep the results of whole finished groups (a conversation is redone unless every
    turn is there), rewriting the file without the rest; return them by id."""
    if not path.exists():
        return {}
    try:
        found = {r.id: r for r in read_results(path)}
    except (ValueError, KeyError, TypeError) as exc:
        raise RunMismatch(f"{path} is damaged ({exc}): pass another --out to start a new run") from None
    keep = [found[q.id] for g in questions.groups if all(q.id in found for q in g) for q in g]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in keep), encoding="utf-8")
    os.replace(tmp, path)
    if keep:
        log.info("resuming %s: %d questions already done", path.parent, len(keep))
    return {r.id: r for r in keep}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- index for another corpus ----------------------------------------------------------------


def cache_home() -> Path:
    return cache_dir()


def corpus_key(corpus: Path | str) -> str:
    """A hash of a corpus's content: every readable file's relative path and bytes (hidden files and
    links out of the folder ignored, as the corpus loader ignores them)."""
    root = Path(corpus)
    if root.is_file():
        st = root.stat()
        files = [CorpusFile(root.name, root.resolve(), (st.st_dev, st.st_ino))]
    else:
        files, _ = corpus_files(root)
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        try:
            digest.update(read_corpus_file(file, MAX_FILE_BYTES * 100))  # larger files are skipped when loading
        except (ValueError, OSError) as exc:
            digest.update(f"unreadable: {exc}".encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached_index(corpus: Path | str, store: object = None) -> Path:
    """Where the index of a corpus other than the project's lives, keyed by its content (and by its
    ``store`` other than FAISS: a Milvus index keeps its own records)."""
    kind = str(store or "faiss")
    suffix = "" if kind == "faiss" else "-" + hashlib.sha256(kind.encode()).hexdigest()[:8]
    return cache_home() / f"index-{corpus_key(corpus)}{suffix}"
