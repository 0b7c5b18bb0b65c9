"""Batch evaluation: ask every question of a set through ``Assistant.ask`` and score the answers.

What is scored is what a person sees: each answer comes from
``assistant.ask(question, history, k, mode)`` with the user's ``k``. The
retrieval metrics need a ranking ten deep (``hit@10``, ``mrr@10``), which a
k=5 answer does not have, and asking with k=10 would change the answer (it is
built from every passage it is given). So each question also gets one
``assistant.retrieve`` call, ``max(k, 10)`` deep, for the same search query
``ask`` used (the question, plus the previous question for a follow-up). The
retriever ranks from the same candidate pool at both depths, so the first
``k`` passages of that ranking are the answer's own; every result records
whether that held (``ranking_matches_answer``), and the summary lists any
question where it did not. Latency is ``ask``'s own wall time; the extra
ranking call is not counted, and one untimed question is asked first so that
the figures exclude loading the model.

A run folder holds ``run.json`` (settings), ``results.jsonl`` (one line per
question, written as it comes), ``summary.json``, ``report.md`` and
``report.html``. Running again into a folder with results resumes: finished
questions (whole conversations) are kept, the rest are asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from qa.assistant import DEFAULT_INDEX, Assistant
from qa.metrics import (
    DEPTH,
    Cited,
    Metrics,
    Result,
    Retrieved,
    by_type,
    compute,
    delta,
    first_relevant_rank,
    outcome,
    read_results,
)
from qa.questions import GoldSpan, Question, QuestionSet, resolve
from qa.records import Answer, Hit, Turn
from qa.report import write_reports

log = logging.getLogger(__name__)

DEFAULT_RUNS = DEFAULT_INDEX.parent / "runs"
RESULTS, SUMMARY, SETTINGS = "results.jsonl", "summary.json", "run.json"
Progress = Callable[[int, int], None]  # (questions done, total)
_PACKAGES = ("qa-offline", "sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s", "numpy")
_MUST_MATCH = ("questions_sha256", "k", "mode", "model", "index_fingerprint")
Gold = tuple[tuple[GoldSpan, ...], tuple[str, ...]]  # a question's resolved evidence, and what could not be found


class RunMismatch(ValueError):
    """The output folder holds a run made with other settings."""


@dataclass(frozen=True)
class RunSettings:
    questions: str
    questions_sha256: str
    k: int
    mode: str
    depth: int  # how deep the ranking for the retrieval metrics goes
    corpus: str
    index: str
    model: str
    dimension: int
    index_fingerprint: str
    index_created: str | None


@dataclass(frozen=True)
class Summary:
    out_dir: Path
    settings: RunSettings
    overall: Metrics
    by_type: dict[str, Metrics]
    questions_total: int
    evidence_not_found: tuple[tuple[str, str], ...]  # (question id, problem)
    ranking_mismatches: tuple[str, ...]  # question ids
    seconds: float  # wall time of this invocation
    resumed: int  # questions already done when it started
    versions: dict[str, str | None] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.overall.questions == self.questions_total

    def to_dict(self) -> dict:
        return {
            "complete": self.complete,
            "questions_total": self.questions_total,
            "questions_done": self.overall.questions,
            "settings": asdict(self.settings),
            "metrics": {"overall": self.overall.to_dict(),
                        "by_type": {t: m.to_dict() for t, m in self.by_type.items()}},
            "evidence_not_found": [{"id": i, "problem": p} for i, p in self.evidence_not_found],
            "ranking_mismatches": list(self.ranking_mismatches),
            "seconds": round(self.seconds, 2),
            "resumed": self.resumed,
            "versions": self.versions,
        }


# -- running ---------------------------------------------------------------------------------

def run_eval(assistant: Assistant, questions: QuestionSet, out_dir: Path | str, k: int = 5,
             mode: str = "hybrid", progress: Progress | None = None) -> Summary:
    """Ask every question, write results as they come, then the summary and reports.

    Resumes when ``out_dir`` already holds results of a run with the same
    settings; raises ``RunMismatch`` when it holds a run with other settings.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
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
        out_dir=out_dir, settings=settings, overall=compute(results), by_type=by_type(results),
        questions_total=total,
        evidence_not_found=tuple((r.id, p) for r in results for p in r.evidence_problems),
        ranking_mismatches=tuple(r.id for r in results if not r.ranking_matches_answer),
        seconds=time.perf_counter() - started, resumed=len(done), versions=versions())
    _write_json(out_dir / SUMMARY, summary.to_dict())
    write_reports(summary, results, out_dir)
    return summary


def _ask_group(assistant: Assistant, group: tuple[Question, ...], gold: dict[str, Gold], k: int,
               mode: str) -> Iterator[Result]:
    """Answer a conversation's turns in order, each with the ones before it as history."""
    history: list[Turn] = []
    for q in group:
        answer = assistant.ask(q.question, history=history, k=k, mode=mode)
        ranking = assistant.retrieve(assistant.search_query(q.question, history), k=max(k, DEPTH), mode=mode)
        evidence, problems = gold[q.id]
        yield _result(q, answer, ranking, k, evidence, problems)
        history.append(Turn(q.question, answer))


def _result(q: Question, answer: Answer, ranking: list[Hit], k: int, evidence: tuple[GoldSpan, ...],
            problems: tuple[str, ...]) -> Result:
    own = [h.chunk.id for h in answer.retrieved]
    return Result(
        id=q.id, question=q.question, type=q.type, answers=q.answers, evidence=evidence,
        evidence_problems=problems, answer=answer.answer, short_answer=answer.short_answer,
        abstained=answer.abstained,
        citations=tuple(Cited(c.n, c.doc, c.chunk_id, c.start, c.end, c.text) for c in answer.citations),
        retrieved=tuple(Retrieved(h.chunk.doc, h.chunk.id, h.chunk.start, h.chunk.end, round(h.score, 6))
                        for h in ranking),
        answer_k=k, latency_ms=answer.latency_ms, conversation=q.conversation, turn=q.turn,
        ranking_matches_answer=own == [h.chunk.id for h in ranking[:len(own)]], fields=q.fields)


def _text_of(assistant: Assistant) -> Callable[[str], str | None]:
    def text_of(doc: str) -> str | None:
        try:
            return assistant.document(doc).text
        except KeyError:
            return None
    return text_of


def _settings(assistant: Assistant, questions: QuestionSet, k: int, mode: str) -> RunSettings:
    manifest = assistant.state.data.manifest
    return RunSettings(
        questions=str(questions.path), questions_sha256=questions.sha256, k=k, mode=mode, depth=max(k, DEPTH),
        corpus=str(assistant.corpus), index=str(assistant.index_dir), model=assistant.embedder.name,
        dimension=assistant.embedder.dimension, index_fingerprint=manifest["fingerprint"],
        index_created=manifest.get("created"))


def _claim(out_dir: Path, settings: RunSettings) -> None:
    """Start a run in ``out_dir``, or check that the run already there is this one."""
    path = out_dir / SETTINGS
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        now = asdict(settings)
        diff = [f"{key} {before.get(key)!r} → {now[key]!r}" for key in _MUST_MATCH if before.get(key) != now[key]]
        if diff:
            raise RunMismatch(f"{out_dir} holds a run with other settings ({'; '.join(diff)}): "
                              "pass another --out to start a new run")
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
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def corpus_key(corpus: Path | str) -> str:
    """A hash of a corpus's content: every file's relative path and bytes (hidden files ignored)."""
    root = Path(corpus)
    if root.is_file():
        files = [root]
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
    digest = hashlib.sha256()
    for file in files:
        digest.update((file.name if file == root else file.relative_to(root).as_posix()).encode() + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached_index(corpus: Path | str) -> Path:
    """Where the index of a corpus other than the project's lives, keyed by its content."""
    return cache_home() / f"index-{corpus_key(corpus)}"


# -- comparing two runs ----------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """A question whose outcome, or whether its evidence reached the answer, differs between two runs."""

    id: str
    question: str
    before: str
    after: str
    rank_before: int | None
    rank_after: int | None


@dataclass(frozen=True)
class Comparison:
    run_a: Path
    run_b: Path
    metrics: dict[str, dict[str, tuple[float | int | None, float | int | None]]]  # scope → metric → (a, b)
    changed: tuple[Change, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "run_a": str(self.run_a), "run_b": str(self.run_b),
            "metrics": {scope: {name: {"a": a, "b": b, "delta": delta(a, b)} for name, (a, b) in values.items()}
                        for scope, values in self.metrics.items()},
            "changed": [asdict(c) for c in self.changed],
            "only_a": list(self.only_a), "only_b": list(self.only_b),
        }


def compare(run_a: Path | str, run_b: Path | str) -> Comparison:
    """Metric deltas (overall and per type) and the questions whose outcome changed, from
    the two runs' ``results.jsonl``."""
    run_a, run_b = Path(run_a), Path(run_b)
    results = []
    for run in (run_a, run_b):
        if not (run / RESULTS).is_file():
            raise FileNotFoundError(f"{run} is not a run folder (no {RESULTS})")
        results.append({r.id: r for r in read_results(run / RESULTS)})
    a, b = results
    scopes = {"overall": (compute(list(a.values())), compute(list(b.values())))}
    types_a, types_b = by_type(list(a.values())), by_type(list(b.values()))
    scopes.update({t: (types_a[t], types_b[t]) for t in types_a if t in types_b})
    metrics = {scope: {name: (ma.to_dict()[name], mb.to_dict()[name]) for name in ma.to_dict()}
               for scope, (ma, mb) in scopes.items()}
    changed = tuple(Change(qid, b[qid].question, outcome(a[qid]), outcome(b[qid]),
                           first_relevant_rank(a[qid]), first_relevant_rank(b[qid]))
                    for qid in a if qid in b and _state(a[qid]) != _state(b[qid]))
    return Comparison(run_a, run_b, metrics, changed, tuple(i for i in a if i not in b),
                      tuple(i for i in b if i not in a))


def _state(r: Result) -> tuple[str, bool]:
    """A question's outcome, and whether its evidence was among the passages the answer was built from."""
    rank = first_relevant_rank(r)
    return outcome(r), rank is not None and rank <= r.answer_k
