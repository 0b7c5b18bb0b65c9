"""Batch evaluation: read a question set, ask it through the assistant, score, report, compare.

The modules depend on each other in one direction only::

    questions ← metrics ← records ← report ← run
                                  ↖ compare

- ``questions``: reading question sets (and narrowing them to a split's articles), and finding
  their evidence in the corpus.
- ``metrics``: the per-question ``Result`` (one line of ``results.jsonl``) and the metrics.
- ``records``: a run's settings and summary, and a comparison of two runs.
- ``report``: ``report.md``, ``report.html`` and the plain-text summary.
- ``run``: running and resuming a set, and the cached index of another corpus.
- ``compare``: two runs side by side.
"""

from qa.eval.compare import compare
from qa.eval.metrics import DEPTH, KS, Metrics, Result, read_results
from qa.eval.questions import Question, QuestionSet, Split, load_questions, load_split
from qa.eval.records import RESULTS, SETTINGS, SUMMARY, Change, Comparison, RunSettings, Summary
from qa.eval.run import DEFAULT_RUNS, cached_index, run_eval, runs_beside

__all__ = [
    "DEFAULT_RUNS",
    "DEPTH",
    "KS",
    "RESULTS",
    "SETTINGS",
    "SUMMARY",
    "Change",
    "Comparison",
    "Metrics",
    "Question",
    "QuestionSet",
    "Result",
    "RunSettings",
    "Split",
    "Summary",
    "cached_index",
    "compare",
    "load_questions",
    "load_split",
    "read_results",
    "run_eval",
    "runs_beside",
]
