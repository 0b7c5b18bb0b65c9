"""The dev questions on the corpus converted to PDF, HTML and Word: do answers survive extraction?

Each article of ``corpus/`` is written out as a PDF (A4 pages, title and date in
its metadata), a saved news page (menu, cookie banner, related links and footer
around the article, the date in a meta tag) and a Word file (title and date in
its properties), by ``tests/fixture_files.py``. The dev questions are rewritten
to name the converted files, and ``qa eval`` scores them on each version, the
``.txt`` corpus first. The issue's target: answer_hit and evidence_cited within
two points of the ``.txt`` figures. Results go to ``benchmarks/results/formats.json``.

    .venv/bin/python benchmarks/formats.py [--questions eval/dev_questions.jsonl] [--kinds pdf html docx]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixture_files import convert_folder  # noqa: E402

METRICS = ("answer_hit", "evidence_cited", "short_em", "abstain_rate", "evidence_not_found")


def renamed(questions: Path, names: dict[str, str], out: Path) -> Path:
    """The question file with every evidence document renamed to its converted file."""
    lines = []
    for line in questions.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        for item in record.get("evidence", []):
            item["doc"] = names.get(item["doc"], item["doc"])
        if "doc_ids" in record:
            record["doc_ids"] = [names.get(d, d) for d in record["doc_ids"]]
        lines.append(json.dumps(record, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def evaluate(questions: Path, corpus: Path, work: Path, name: str) -> dict:
    out = work / f"run-{name}"
    command = [sys.executable, "-m", "qa.cli", "eval", str(questions), "--corpus", str(corpus)]
    command += ["--index", str(work / f"index-{name}"), "--out", str(out), "--no-progress", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"qa eval on {name} failed:\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    figures = summary["metrics"]["overall"]
    figures["evidence_not_found"] = len(summary["evidence_not_found"])  # quotes missing from the extracted text
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval/dev_questions.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--kinds", nargs="+", default=["pdf", "html", "docx"], choices=["pdf", "html", "docx"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/formats.json")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "qa-formats",
        help="where the converted corpora, their indexes and the runs are kept",
    )
    args = parser.parse_args()
    figures: dict[str, dict] = {}
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    figures["txt"] = evaluate(args.questions, args.corpus, work, "txt")
    for kind in args.kinds:
        names = convert_folder(args.corpus, work / kind, kind)
        questions = renamed(args.questions, names, work / f"questions-{kind}.jsonl")
        figures[kind] = evaluate(questions, work / kind, work, kind)
    print(f"{'corpus':8}" + "".join(f"{m:>19}" for m in METRICS) + f"{'Δ answer_hit':>15}{'Δ evidence':>12}")
    base = figures["txt"]
    for name, summary in figures.items():
        row = "".join(f"{summary.get(m, float('nan')):>19.3f}" for m in METRICS)
        deltas = f"{summary['answer_hit'] - base['answer_hit']:>+15.3f}"
        deltas += f"{summary['evidence_cited'] - base['evidence_cited']:>+12.3f}"
        print(f"{name:8}{row}{deltas}")
    keep = {name: {m: s.get(m) for m in METRICS + ("questions",)} for name, s in figures.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(keep, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out.relative_to(ROOT)}; runs in {work}")


if __name__ == "__main__":
    main()
