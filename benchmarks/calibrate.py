"""Set the abstention threshold from the dev questions.

Asks every dev question with abstention switched off, records the answer's
confidence, and prints the threshold that best separates answerable from
unanswerable questions: the one that maximises (unanswerable declined +
answerable answered), taking the middle of the widest gap among the ties.
Copy the printed value into ``qa.answer.ABSTAIN_THRESHOLD``.

    .venv/bin/python benchmarks/calibrate.py [--questions eval/dev_questions.jsonl]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from qa import Assistant
from qa.assistant import DEFAULT_CORPUS
from qa.text import squad_normalize

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = ROOT / "eval" / "dev_questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(args.corpus, Path(tmp) / "index", threshold=float("-inf")).load()
        rows = []
        for q in questions:
            answer = assistant.ask(q["question"])
            gold = [squad_normalize(a) for a in q["answers"]]
            correct = any(g in squad_normalize(answer.answer) for g in gold)
            rows.append((answer.confidence, bool(q["answers"]), correct, q["id"]))
    rows.sort()
    print(f"{'id':>5} {'confidence':>10} answerable correct")
    for conf, answerable, correct, qid in rows:
        print(f"{qid:>5} {conf:10.3f} {answerable!s:>10} {correct!s:>7}")
    best = None
    for i in range(len(rows) + 1):
        low = rows[i - 1][0] if i else rows[0][0] - 0.05
        high = rows[i][0] if i < len(rows) else rows[-1][0] + 0.05
        declined = rows[:i]
        good = sum(not a for _, a, _, _ in declined) + sum(a for _, a, _, _ in rows[i:])
        key = (good, high - low)
        if best is None or key > best[0]:
            best = (key, (low + high) / 2, declined)
    (good, gap), threshold, declined = best
    unanswerable = sum(not a for _, a, _, _ in rows)
    print(
        f"\nthreshold {threshold:.3f} (gap {gap:.3f}): declines {sum(not a for _, a, _, _ in declined)}"
        f"/{unanswerable} unanswerable and {sum(a for _, a, _, _ in declined)}/{len(rows) - unanswerable}"
        " answerable"
    )


if __name__ == "__main__":
    main()
