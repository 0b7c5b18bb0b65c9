"""SQuAD dev end to end, in each retrieval mode: index build, then every question (of one split).

Data: ``eval/squad-v1.1-dev/`` (2,067 Wikipedia paragraphs in ``corpus.jsonl``,
10,570 questions with ``doc_ids`` in ``questions.jsonl``), from the SQuAD v1.1
development set: Rajpurkar, Zhang, Lopyrev and Liang (2016), "SQuAD: 100,000+
Questions for Machine Comprehension of Text"; and ``eval/squad-v2.0-dev/``
(1,204 paragraphs, 11,873 questions, 5,945 of them unanswerable), from the
SQuAD v2.0 development set: Rajpurkar, Jia and Liang (2018), "Know What You
Don't Know: Unanswerable Questions for SQuAD". Both are licensed CC BY-SA 4.0.

``--split train|test`` keeps the questions of one side of
``eval/squad-splits.json`` (an article-level split: fit on ``train``, report on
``test``); ``all`` (the default) asks every question.

The index of a set is built once and cached by content (under ``~/.cache/qa/``,
as ``qa eval --corpus`` does); the build is timed the first time (or with
``--rebuild``) and its figures kept in ``benchmarks/results/squad-<set>-index.json``.
Each mode then runs through ``qa.eval.run_eval`` into
``runs/squad-<set>-<split>-<mode>/`` (an interrupted run resumes there; a
finished one is run afresh) and its summary is written to
``benchmarks/results/squad-<set>-<split>-<mode>.json``. Prints hit@1, hit@5,
answer_hit, abstain_rate, auroc, run time and the index build rate.

    .venv/bin/python benchmarks/squad.py [--set v1.1|v2.0] [--split all|train|test]
        [--modes hybrid dense keyword] [--limit N] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from qa import MODES, Assistant
from qa.eval import DEFAULT_RUNS, SUMMARY, cached_index, load_questions, run_eval
from qa.eval.report import fmt
from qa.progress import Progress, StageProgress

ROOT = Path(__file__).resolve().parent.parent
SETS = {"v1.1": ROOT / "eval" / "squad-v1.1-dev", "v2.0": ROOT / "eval" / "squad-v2.0-dev"}
SPLITS = ROOT / "eval" / "squad-splits.json"
RESULTS = ROOT / "benchmarks" / "results"
ATTRIBUTION = {
    "v1.1": "SQuAD v1.1 dev, Rajpurkar et al. (2016), https://rajpurkar.github.io/SQuAD-explorer/, CC BY-SA 4.0",
    "v2.0": "SQuAD v2.0 dev, Rajpurkar, Jia and Liang (2018), https://rajpurkar.github.io/SQuAD-explorer/, "
    "CC BY-SA 4.0",
}


def build_index(assistant: Assistant, squad: str, rebuild: bool) -> dict:
    """Bring the cached index up to date; time it when it had to be built."""
    record = RESULTS / f"squad-{squad}-index.json"
    started = time.perf_counter()
    with StageProgress() as bar:
        report = assistant.refresh(progress=bar, rebuild=rebuild)
    seconds = time.perf_counter() - started
    fingerprint = assistant.state.data.fingerprint
    if report.embedded == 0 and record.exists():
        kept = json.loads(record.read_text())
        if kept.get("fingerprint") == fingerprint and kept.get("model") == assistant.embedder.name:
            return {**kept, "cached": True}
    figures = {
        "fingerprint": fingerprint,
        "model": assistant.embedder.name,
        "index": str(assistant.index_dir),
        "documents": len(assistant.state.data.documents),
        "chunks": report.chunks,
        "chunks_embedded": report.embedded,
        "seconds": round(seconds, 1),
        "chunks_per_s": round(report.chunks / seconds, 1),
        "cached": False,
    }
    if report.embedded:
        record.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def run_mode(assistant: Assistant, squad: str, split: str, mode: str, limit: int | None, build: dict) -> dict:
    chosen = None if split == "all" else f"{SPLITS}:{split}"
    questions = load_questions(SETS[squad] / "questions.jsonl", split=chosen)
    name = f"squad-{squad}-{split}-{mode}" + (f"-first{limit}" if limit else "")
    if limit:
        questions = replace(questions, groups=questions.groups[:limit])
    out_dir = DEFAULT_RUNS / name
    if (out_dir / SUMMARY).exists() and json.loads((out_dir / SUMMARY).read_text())["complete"]:
        shutil.rmtree(out_dir)  # a finished run is measured again; an interrupted one resumes
    started = time.perf_counter()
    with Progress(mode, unit="q") as bar:
        summary = run_eval(assistant, questions, out_dir, k=5, mode=mode, progress=bar)
    seconds = time.perf_counter() - started
    out = {
        **summary.to_dict(),
        "benchmark": {
            "data": ATTRIBUTION[squad],
            "set": squad,
            "split": split,
            "mode": mode,
            "run_seconds": round(seconds, 1),
            "resumed": summary.resumed,
            "index_build": build,
        },
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="squad", choices=sorted(SETS), default="v1.1", help="Which SQuAD dev set.")
    parser.add_argument(
        "--split",
        choices=("all", "train", "test"),
        default="all",
        help=f"Only the questions of these articles of {SPLITS.name} (default: every question).",
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--limit", type=int, help="Only the first N questions (a quick check).")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the cached index, to time the build.")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    corpus = SETS[args.squad] / "corpus.jsonl"
    assistant = Assistant(corpus, cached_index(corpus))
    build = build_index(assistant, args.squad, args.rebuild)
    print(
        f"index: {build['chunks']} chunks of {build['documents']} paragraphs, built in {build['seconds']}s "
        f"({build['chunks_per_s']} chunks/s){' (cached build)' if build['cached'] else ''}"
    )
    columns = ("hit@1", "hit@5", "answer_hit", "abstain_rate", "auroc")
    print(f"{'mode':<8} " + " ".join(f"{c:>12}" for c in columns) + f" {'run time':>9}")
    for mode in args.modes:
        out = run_mode(assistant, args.squad, args.split, mode, args.limit, build)
        m = out["metrics"]["overall"]
        print(
            f"{mode:<8} " + " ".join(f"{fmt(m[c]):>12}" for c in columns) + f" {out['benchmark']['run_seconds']:8.0f}s",
            flush=True,
        )
    print(f"data: {ATTRIBUTION[args.squad]}")


if __name__ == "__main__":
    main()
