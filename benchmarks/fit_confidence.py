"""Fit the calibrated confidence (``qa/models/confidence.json``) on the SQuAD ``train`` articles only.

For a seeded sample of questions of the ``train`` articles of SQuAD v1.1 dev
and v2.0 dev, the assistant's own pipeline retrieves passages and gathers
their sentences; the hand-set features preselect the best few; the verifier
reads them. Each preselected sentence becomes one row of
``qa.verified.FEATURES``, labelled 1 when it holds a gold answer (never, for
an unanswerable question). A logistic regression is fitted on those rows. The
threshold is chosen for a stated operating point, on the same ``train``
questions: decline at most ``--declined`` (10%) of the answerable questions
whose candidates hold an answer at all. Nothing here reads a ``test`` article
or the five-article dev questions.

    .venv/bin/python benchmarks/fit_confidence.py [--articles validation] [--per-set 1500] [--seed 7]

By default only the four ``train`` articles the verifier held back are used:
on the articles it was fitted on, its logits are overconfident, and a
calibrator fitted there would lean on them too much.

Data: SQuAD v1.1 dev (Rajpurkar et al., 2016) and SQuAD v2.0 dev (Rajpurkar,
Jia and Liang, 2018), CC BY-SA 4.0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.confidence import fit
from qa.eval import cached_index
from qa.eval.metrics import auroc, contains, decline_threshold
from qa.progress import Progress, StageProgress
from qa.scoring import FeatureScorer
from qa.verified import CALIBRATOR, FEATURES, VerifiedScorer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_verifier import validation_articles  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SETS = {"v1.1": ROOT / "eval" / "squad-v1.1-dev", "v2.0": ROOT / "eval" / "squad-v2.0-dev"}
SPLITS = ROOT / "eval" / "squad-splits.json"
K = 5  # passages per question, as the assistant answers by default


def article(record: dict) -> str:
    doc = (record.get("doc_ids") or [record.get("source_doc_id") or ""])[0]
    return doc.split("#", 1)[0]


def train_questions(folder: Path, titles: set[str], n: int, rng: random.Random) -> list[dict]:
    records = [json.loads(line) for line in (folder / "questions.jsonl").open(encoding="utf-8") if line.strip()]
    kept = [r for r in records if article(r) in titles]
    rng.shuffle(kept)
    return kept[:n]


def rows_for(assistant: Assistant, scorer: VerifiedScorer, record: dict) -> tuple[np.ndarray, np.ndarray]:
    pipeline = assistant.state.pipeline
    search = pipeline.search(pipeline.read(record["question"]), K)
    pool = search.hits
    candidates = pipeline.sentences.candidates(search.vector, pool, assistant.weights.min_words)
    top = scorer.preselect.score(search.query, pool, candidates)[: scorer.candidates]
    if not top:
        return np.zeros((0, len(FEATURES))), np.zeros(0)
    x, _ = scorer.features(search.query, pool, top)
    y = np.array([any(contains(s.candidate.text, a) for a in record["answers"]) for s in top], dtype=np.float64)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-set", type=int, default=1500, help="Questions sampled from each SQuAD set.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--declined", type=int, default=10, help="Per cent of answerable questions to decline.")
    parser.add_argument("--out", type=Path, default=CALIBRATOR)
    parser.add_argument(
        "--articles",
        choices=("validation", "train"),
        default="validation",
        help="validation: only the train articles the verifier was not fitted on (its logits there are "
        "honest); train: every train article",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    titles = set(json.loads(SPLITS.read_text())["train"])
    if args.articles == "validation":
        titles = set(validation_articles(sorted(titles)))
    rng = random.Random(args.seed)
    xs, ys, groups, kinds = [], [], [], []  # kinds: answerable or not, per question
    for name, folder in SETS.items():
        corpus = folder / "corpus.jsonl"
        assistant = Assistant(corpus, cached_index(corpus), scorer=FeatureScorer)
        with StageProgress() as bar:
            assistant.load(progress=bar)
        preselect = assistant.state.pipeline.scorer
        scorer = VerifiedScorer(preselect, calibrator=_uniform())
        questions = train_questions(folder, titles, args.per_set, rng)
        with Progress(f"{name} train questions", "q") as bar:
            for i, record in enumerate(questions, 1):
                x, y = rows_for(assistant, scorer, record)
                xs.append(x)
                ys.append(y)
                groups.append(np.full(len(y), len(kinds)))
                kinds.append(bool(record["answers"]))
                bar(i, len(questions))
    x, y, group = np.vstack(xs), np.concatenate(ys), np.concatenate(groups)
    calibrator = fit(FEATURES, x, y)
    p = calibrator.probability(x)
    best = np.array([p[group == g].max() if (group == g).any() else 0.0 for g in range(len(kinds))])
    holds = np.array([bool(y[group == g].any()) for g in range(len(kinds))])
    answerable = np.array(kinds)
    threshold = decline_threshold(best[answerable & holds].tolist(), args.declined)
    unanswerable_declined = float((best[~answerable] < threshold).mean()) if (~answerable).any() else None
    info = {
        **calibrator.info,
        "data": "SQuAD v1.1 dev and v2.0 dev, train articles of eval/squad-splits.json (CC BY-SA 4.0)"
        + (f", only the verifier's validation articles {sorted(titles)}" if args.articles == "validation" else ""),
        "questions": len(kinds),
        "answerable": int(answerable.sum()),
        "seed": args.seed,
        "operating_point": f"declines at most {args.declined}% of the answerable train questions whose candidates "
        "hold an answer",
        "train_sentence_auroc": auroc(p[y == 1], p[y == 0]),
        "train_question_auroc": auroc(best[answerable], best[~answerable]),
        "train_unanswerable_declined": unanswerable_declined,
        "seconds": round(time.perf_counter() - started, 1),
    }
    calibrator = type(calibrator)(**{**calibrator.__dict__, "threshold": threshold, "info": info})
    calibrator.save(args.out)
    print(json.dumps({"threshold": threshold, **info, "weights": dict(zip(FEATURES, calibrator.weights))}, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)


def _uniform():
    """A calibrator that leaves features as they are, for gathering them before the real one is fitted."""
    from qa.confidence import Calibrator

    n = len(FEATURES)
    return Calibrator(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, 0.5)


if __name__ == "__main__":
    main()
