"""Does what the assistant says about the five articles change when unrelated documents join them?

Runs the five-article dev questions twice through ``qa eval``: on the bundled
corpus alone, and on a copy of it with every SQuAD v1.1 dev paragraph added
(2,067 paragraphs on 48 unrelated topics, one ``.jsonl`` file beside the
articles). Prints the questions whose outcome changed and writes
``benchmarks/results/stability-<scorer>.json``. Nothing is fitted here.

    .venv/bin/python benchmarks/stability.py [--scorer features|verified]

SQuAD v1.1 (Rajpurkar et al., 2016) is CC BY-SA 4.0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.eval import cached_index
from qa.eval.compare import compare
from qa.eval.metrics import outcome, read_results
from qa.eval.records import RESULTS

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "dev_questions.jsonl"
EXTRA = ROOT / "eval" / "squad-v1.1-dev" / "corpus.jsonl"
OUT = ROOT / "benchmarks" / "results"


def run(corpus: Path, out: Path, scorer: str) -> dict:
    """One ``qa eval`` run of the dev questions on ``corpus``; its summary."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "qa.cli", "eval", str(QUESTIONS), "--corpus", str(corpus)]
    command += ["--index", str(cached_index(corpus)), "--scorer", scorer, "--out", str(out), "--no-progress"]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())["metrics"]["overall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", choices=("features", "verified"), default="features")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qa-stability-") as tmp:
        grown = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus", grown)
        shutil.copy(EXTRA, grown / "squad-v1.1-paragraphs.jsonl")
        base_run, grown_run = Path(tmp) / "base", Path(tmp) / "grown"
        base = run(ROOT / "corpus", base_run, args.scorer)
        more = run(grown, grown_run, args.scorer)
        comparison = compare(base_run, grown_run)
        a = {r.id: r for r in read_results(base_run / RESULTS)}
        b = {r.id: r for r in read_results(grown_run / RESULTS)}
        flips = [
            {"id": i, "question": a[i].question, "alone": outcome(a[i]), "grown": outcome(b[i])}
            for i in a
            if i in b and outcome(a[i]) != outcome(b[i])
        ]
        changed_any = [c.id for c in comparison.changed]  # outcome or evidence-in-top-k changed
    keys = ("answer_hit", "evidence_cited", "hit@1", "hit@5", "abstain_rate", "false_abstain_rate")
    report = {
        "scorer": args.scorer,
        "questions": len(a),
        "added": f"{EXTRA.relative_to(ROOT)} (every SQuAD v1.1 dev paragraph)",
        "outcome_changes": len(flips),
        "outcome_or_evidence_changes": len(changed_any),
        "changes": flips,
        "alone": {k: base.get(k) for k in keys},
        "grown": {k: more.get(k) for k in keys},
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"stability-{args.scorer}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
