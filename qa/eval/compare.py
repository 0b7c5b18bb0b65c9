"""Comparing two runs from their ``results.jsonl`` alone: metric deltas, and the questions whose
outcome changed. Runs written by older code compare too (``Result.from_dict`` reads them)."""

from __future__ import annotations

from pathlib import Path

from qa.errors import UserError
from qa.eval.metrics import Result, by_type, compute, first_relevant_rank, outcome, read_results
from qa.eval.records import RESULTS, Change, Comparison


def compare(run_a: Path | str, run_b: Path | str) -> Comparison:
    """Metric deltas (overall and per type) and the questions whose outcome changed, from
    the two runs' ``results.jsonl``."""
    run_a, run_b = Path(run_a), Path(run_b)
    results = []
    for run in (run_a, run_b):
        if not (run / RESULTS).is_file():
            raise UserError(f"{run} is not a run folder (no {RESULTS}): give the --out folder of a `qa eval` run")
        results.append({r.id: r for r in read_results(run / RESULTS)})
    a, b = results
    scopes = {"overall": (compute(list(a.values())), compute(list(b.values())))}
    types_a, types_b = by_type(list(a.values())), by_type(list(b.values()))
    scopes.update({t: (types_a[t], types_b[t]) for t in types_a if t in types_b})
    metrics = {
        scope: {name: (ma.to_dict()[name], mb.to_dict()[name]) for name in ma.to_dict()}
        for scope, (ma, mb) in scopes.items()
    }
    changed = tuple(
        Change(
            qid,
            b[qid].question,
            outcome(a[qid]),
            outcome(b[qid]),
            first_relevant_rank(a[qid]),
            first_relevant_rank(b[qid]),
        )
        for qid in a
        if qid in b and _state(a[qid]) != _state(b[qid])
    )
    only_a = tuple(i for i in a if i not in b)
    only_b = tuple(i for i in b if i not in a)
    return Comparison(run_a, run_b, metrics, changed, only_a, only_b)


def _state(r: Result) -> tuple[str, bool]:
    """A question's outcome, and whether its evidence was among the passages the answer was built from."""
    rank = first_relevant_rank(r)
    return outcome(r), rank is not None and rank <= r.answer_k
