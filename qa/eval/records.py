"""What an evaluation produces, apart from the per-question ``Result``: a run's settings and
summary, and the comparison of two runs. Plain records, shared by running, comparing and
reporting, so that none of those needs the others.

A run folder holds ``run.json`` (``SETTINGS``: the ``RunSettings``), ``results.jsonl``
(``RESULTS``: one ``Result`` a line, written as it comes), ``summary.json`` (``SUMMARY``),
``report.md`` and ``report.html``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.eval.metrics import Metrics, delta

RESULTS, SUMMARY, SETTINGS = "results.jsonl", "summary.json", "run.json"
MUST_MATCH = ("questions_sha256", "split", "k", "mode", "model", "index_fingerprint")  # a resumed run shares these


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
    split: str | None = None  # ``QuestionSet.split``: the articles kept, e.g. "squad-splits.json:test (…)"


@dataclass(frozen=True)
class Summary:
    out_dir: Path
    settings: RunSettings
    overall: Metrics
    by_type: dict[str, Metrics]
    questions_total: int
    evidence_not_found: tuple[tuple[str, str], ...]  # (question id, problem)
    seconds: float  # wall time of this invocation
    resumed: int  # questions already done when it started
    answering: dict = field(default_factory=dict)  # ``Assistant.describe()``: threshold, scoring weights
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
            "answering": self.answering,
            "metrics": {
                "overall": self.overall.to_dict(),
                "by_type": {t: m.to_dict() for t, m in self.by_type.items()},
            },
            "evidence_not_found": [{"id": i, "problem": p} for i, p in self.evidence_not_found],
            "seconds": round(self.seconds, 2),
            "resumed": self.resumed,
            "versions": self.versions,
        }


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
            "run_a": str(self.run_a),
            "run_b": str(self.run_b),
            "metrics": {
                scope: {name: {"a": a, "b": b, "delta": delta(a, b)} for name, (a, b) in values.items()}
                for scope, values in self.metrics.items()
            },
            "changed": [asdict(c) for c in self.changed],
            "only_a": list(self.only_a),
            "only_b": list(self.only_b),
        }
