"""Choose the hand-set feature scorer's abstention threshold on the SQuAD v2.0 ``train`` articles.

The operating point: decline at most 10% of the answerable questions (the
threshold is the confidence of the ⌊n/10⌋+1-th least confident answerable
question, as ``abstain@fa10`` defines it). Nothing here reads a ``test``
article or the five-article dev questions. Prints the threshold and what it
declines; ``qa.scoring.Weights.threshold`` holds the value it printed.

    .venv/bin/python benchmarks/fit_threshold.py [--out runs/threshold-v2-train]

Data: SQuAD v2.0 dev (Rajpurkar, Jia and Liang, 2018), CC BY-SA 4.0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa import Assistant
from qa.eval import cached_index, load_questions, run_eval
from qa.eval.metrics import auroc, decline_threshold, read_results
from qa.progress import Progress, StageProgress

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "eval" / "squad-v2.0-dev"
SPLIT = f"{ROOT / 'eval' / 'squad-splits.json'}:train"
PERCENT = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "threshold-v2-train")
    args = parser.parse_args()
    corpus = SQUAD / "corpus.jsonl"
    assistant = Assistant(corpus, cached_index(corpus), threshold=0.0)  # answer everything; only rank
    with StageProgress() as bar:
        assistant.load(progress=bar)
    with Progress("questions", "q") as bar:
        run_eval(assistant, load_questions(SQUAD / "questions.jsonl", split=SPLIT), args.out, progress=bar)
    results = read_results(args.out / "results.jsonl")
    answerable = [r.confidence for r in results if r.answers]
    unanswerable = [r.confidence for r in results if not r.answers]
    threshold = decline_threshold(answerable, PERCENT)
    print(
        json.dumps(
            {
                "threshold": round(threshold, 3),
                "questions": len(results),
                "answerable_declined": sum(c < threshold for c in answerable) / len(answerable),
                "unanswerable_declined": sum(c < threshold for c in unanswerable) / len(unanswerable),
                "auroc": auroc(answerable, unanswerable),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
