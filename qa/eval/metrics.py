"""Scoring: the per-question result record and the metrics of EVAL_FORMAT section 3.

Everything here works from ``Result`` records, which round-trip through one
line of ``results.jsonl`` each, so every metric can be recomputed from that
file alone (``read_results`` then ``compute``).

Choices where the format leaves room:

- An answer "contains" a gold answer when, both SQuAD-normalised, the gold
  tokens appear as a run of whole tokens in the answer (so "nine" is not found
  in "ninety", nor "9" in "$19.96"); a possessive 's is dropped first (so
  "Kishida" is found in "Kishida's"), and so are the answer's ``[n]`` citation
  markers. An abstention contains nothing.
- Retrieval metrics and ``evidence_cited`` count answerable questions whose
  evidence was all found in the corpus; questions with evidence that was not
  found are listed in the summary instead of being scored as misses.
- ``short_em``/``short_f1`` average over the answerable questions that got a
  short answer (their number is ``short_answers``).
- ``citation_support`` counts the sentences of every answer that was not an
  abstention; a sentence is supported when it appears verbatim (after NFKC,
  straight quotes, collapsed white space) in a passage it cites.
- ``latency_ms_p50``/``p95`` use linear interpolation between ranks.
- ``confidence`` is the assistant's probability that its answer is right
  (``Answer.confidence``), given also when it abstains; lines written before it
  existed read as None and are left out of the two metrics below.
- ``auroc`` ranks answerable questions (positives) against unanswerable ones
  by ``confidence``: the chance that a random answerable question has the
  higher confidence, a tie counting half (the Mann–Whitney statistic over all
  pairs). None unless both kinds have a confidence.
- ``abstain@fa10`` declines below the threshold ``t`` that costs at most 10%
  of the answerable questions: with their ``n`` confidences sorted ascending,
  ``t`` is the ``(⌊n/10⌋ + 1)``-th smallest, and a question is declined when
  its confidence is strictly below ``t`` (as the assistant declines). Ties at
  ``t`` are answered, so fewer than 10% of the answerable questions may be
  declined, never more. The metric is the share of unanswerable questions
  strictly below ``t``.
- The risk–coverage curve (``risk_coverage``) answers a question when its
  confidence is at least the threshold; an answered question is an error when
  it is unanswerable or has no ``answer_hit``. A question the run declined has
  no answer to score, so it counts as an error wherever a lower threshold would
  have answered it: the curve is exact from the run's own threshold up, and
  pessimistic below it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qa.eval.questions import GoldSpan
from qa.records import Citation, HitRef
from qa.text import normalize, split_sentences, squad_normalize

KS = (1, 3, 5, 10)
DEPTH = max(KS)
FALSE_ABSTAIN_PERCENT = 10  # abstain@fa10: the threshold may decline this share of the answerable questions
_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")


@dataclass(frozen=True)
class Result:
    """One question as asked and answered, with its gold fields."""

    id: str
    question: str
    type: str | None
    answers: tuple[str, ...]
    evidence: tuple[GoldSpan, ...]  # spans None: the whole document; (): not found in the corpus
    evidence_problems: tuple[str, ...]
    answer: str  # the full text shown to the user
    short_answer: str | None
    abstained: bool
    citations: tuple[Citation, ...]
    retrieved: tuple[HitRef, ...]  # ranked, at least DEPTH deep when the index has that many passages
    answer_k: int  # the answer was built from the first answer_k passages of ``retrieved``
    latency_ms: float
    conversation: str | None = None
    turn: int = 0
    ranking_matches_answer: bool = True  # the answer's own passages are retrieved[:answer_k] (``Answer.ranking``)
    confidence: float | None = None  # ``Answer.confidence``; None in lines written before it was recorded
    fields: dict = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def scored_for_evidence(self) -> bool:
        return self.answerable and bool(self.evidence) and not self.evidence_problems

    def to_dict(self) -> dict:
        """One line of ``results.jsonl``: citations as ``Citation.to_dict()``, retrieved as ``HitRef.to_dict()``."""
        d = asdict(self)
        d["evidence"] = [g.to_dict() for g in self.evidence]
        d["citations"] = [c.to_dict() for c in self.citations]
        d["retrieved"] = [h.to_dict() for h in self.retrieved]
        d["latency_ms"] = round(self.latency_ms, 2)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Result:
        """Read a line written by ``to_dict``, or by older code (citations without title, date or sentence
        span; no ``confidence``)."""
        evidence = tuple(
            GoldSpan(
                g["doc"], g["quote"], None if g["spans"] is None else tuple((int(s), int(e)) for s, e in g["spans"])
            )
            for g in d["evidence"]
        )
        return cls(
            **{
                **d,
                "answers": tuple(d["answers"]),
                "evidence": evidence,
                "evidence_problems": tuple(d["evidence_problems"]),
                "citations": tuple(Citation.from_dict(c) for c in d["citations"]),
                "retrieved": tuple(HitRef.from_dict(r) for r in d["retrieved"]),
                "confidence": None if d.get("confidence") is None else float(d["confidence"]),
            }
        )


def read_results(path: Path | str) -> list[Result]:
    """The complete lines of a ``results.jsonl`` (a half-written last line is skipped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n") and line.strip():
                out.append(Result.from_dict(json.loads(line)))
    return out


# -- per question ----------------------------------------------------------------------------


def is_relevant(doc: str, start: int, end: int, gold: GoldSpan) -> bool:
    """Section 2: same document, and the passage covers at least half of the quote's span."""
    if doc != gold.doc:
        return False
    if gold.spans is None:
        return True
    return any(2 * (min(end, e) - max(start, s)) >= e - s for s, e in gold.spans)


def first_relevant_rank(r: Result, depth: int = DEPTH) -> int | None:
    for rank, p in enumerate(r.retrieved[:depth], 1):
        if any(is_relevant(p.doc, p.start, p.end, g) for g in r.evidence):
            return rank
    return None


def all_covered(r: Result, k: int) -> bool:
    return all(any(is_relevant(p.doc, p.start, p.end, g) for p in r.retrieved[:k]) for g in r.evidence)


def evidence_cited(r: Result) -> bool:
    return any(is_relevant(c.doc, c.start, c.end, g) for c in r.citations for g in r.evidence)


def answer_body(r: Result) -> str:
    """The answer text without its citation markers; empty for an abstention."""
    return "" if r.abstained else _MARKERS.sub(" ", r.answer)


def contains(text: str, gold: str) -> bool:
    """Whether ``gold`` appears in ``text`` as whole tokens, both SQuAD-normalised, possessive 's dropped."""
    needle = _tokens(gold)
    return bool(needle) and f" {needle} " in f" {_tokens(text)} "


def _tokens(text: str) -> str:
    return squad_normalize(_POSSESSIVE.sub("", text))


def answer_hit(r: Result) -> bool:
    body = answer_body(r)
    return any(contains(body, a) for a in r.answers)


def answer_recall(r: Result) -> float:
    body = answer_body(r)
    return sum(contains(body, a) for a in r.answers) / len(r.answers)


def exact_match(prediction: str, gold: str) -> float:
    return float(squad_normalize(prediction) == squad_normalize(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = squad_normalize(prediction).split(), squad_normalize(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref:
        return float(pred == ref)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_sentences(r: Result) -> list[tuple[str, tuple[int, ...]]]:
    """The sentences of the answer, each with the citation numbers that follow it."""
    if r.abstained:
        return []
    parts = _MARKERS.split(r.answer)
    out = []
    for i in range(0, len(parts), 2):
        marks = tuple(int(n) for n in re.findall(r"\d+", parts[i + 1])) if i + 1 < len(parts) else ()
        out += [(parts[i][s:e], marks) for s, e in split_sentences(parts[i])]
    return out


def supported(sentence: str, cited: Iterable[Citation]) -> bool:
    needle = normalize(sentence)
    return any(needle in normalize(c.text) for c in cited)


def support_counts(r: Result) -> tuple[int, int]:
    """(supported, total) answer sentences."""
    by_n = {c.n: c for c in r.citations}
    sentences = answer_sentences(r)
    good = sum(supported(s, [by_n[n] for n in marks if n in by_n]) for s, marks in sentences)
    return good, len(sentences)


def outcome(r: Result) -> str:
    if not r.answerable:
        return "declined" if r.abstained else "answered"
    if r.abstained:
        return "abstained"
    return "correct" if answer_hit(r) else "wrong"


def is_miss(r: Result) -> bool:
    return outcome(r) in ("abstained", "wrong", "answered")


def miss_kind(r: Result) -> str:
    """Why an answer missed: whether its evidence reached the answerer at all."""
    if not r.answerable:
        return "answered an unanswerable question"
    if r.evidence_problems:
        return "evidence not found in the corpus"
    if not r.evidence:
        return "no gold evidence"
    rank = first_relevant_rank(r)
    if rank is None:
        return f"retrieval miss (evidence not in the top {DEPTH})"
    if rank > r.answer_k:
        return f"retrieval miss (evidence at rank {rank}, beyond k={r.answer_k})"
    return f"answering miss (evidence at rank {rank})"


# -- confidence --------------------------------------------------------------------------------


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """The share of (positive, negative) pairs where the positive has the higher score, a tie
    counting half; None without both kinds."""
    if not len(positives) or not len(negatives):
        return None
    pos, neg = np.asarray(positives, dtype=float), np.sort(np.asarray(negatives, dtype=float))
    below = np.searchsorted(neg, pos, side="left")  # negatives strictly below each positive
    tied = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * tied).sum() / (len(pos) * len(neg)))


def decline_threshold(answerable: Sequence[float], percent: int = FALSE_ABSTAIN_PERCENT) -> float | None:
    """The highest threshold that declines (confidence strictly below it) at most ``percent``% of
    ``answerable``: the ``(⌊n·percent/100⌋ + 1)``-th smallest confidence. None when there are none."""
    if not len(answerable):
        return None
    return float(sorted(answerable)[len(answerable) * percent // 100])


def abstain_at(
    answerable: Sequence[float], unanswerable: Sequence[float], percent: int = FALSE_ABSTAIN_PERCENT
) -> float | None:
    """The share of ``unanswerable`` strictly below ``decline_threshold(answerable, percent)``."""
    threshold = decline_threshold(answerable, percent)
    if threshold is None or not len(unanswerable):
        return None
    return sum(c < threshold for c in unanswerable) / len(unanswerable)


def is_error(r: Result) -> bool:
    """Wrong if answered: unanswerable, or no gold answer in the answer text (a declined question
    has no answer text, so it is an error too)."""
    return not r.answerable or not answer_hit(r)


def risk_coverage(results: Sequence[Result]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, risk) for each distinct confidence as the threshold, highest first:
    coverage is the share of the questions with a confidence that have one at least the threshold,
    risk the share of errors (``is_error``) among those."""
    scored = sorted(((r.confidence, is_error(r)) for r in results if r.confidence is not None), reverse=True)
    out: list[tuple[float, float, float]] = []
    errors = 0
    for i, (confidence, error) in enumerate(scored, 1):
        errors += error
        if i == len(scored) or scored[i][0] != confidence:
            out.append((confidence, i / len(scored), errors / i))
    return out


def operating_point(results: Sequence[Result], threshold: float) -> tuple[float, float] | None:
    """(coverage, risk) when answering the questions whose confidence is at least ``threshold``;
    None when none has a confidence or none reaches it."""
    scored = [r for r in results if r.confidence is not None]
    answered = [r for r in scored if r.confidence >= threshold]
    if not answered:
        return None
    return len(answered) / len(scored), sum(map(is_error, answered)) / len(answered)


# -- aggregates ------------------------------------------------------------------------------


_NAMES = {"abstain_fa10": "abstain@fa10"}  # field → documented metric name


@dataclass(frozen=True)
class Metrics:
    questions: int
    answerable: int
    unanswerable: int
    scored_for_evidence: int
    evidence_not_found: int
    hit: dict[int, float | None]
    all: dict[int, float | None]
    mrr10: float | None
    answer_hit: float | None
    answer_recall: float | None
    short_answers: int
    short_em: float | None
    short_f1: float | None
    evidence_cited: float | None
    answer_sentences: int
    citation_support: float | None
    abstain_rate: float | None
    false_abstain_rate: float | None
    auroc: float | None
    abstain_fa10: float | None  # ``abstain@fa10``
    latency_ms_p50: float | None
    latency_ms_p95: float | None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("hit", "all", "mrr10")}
        out = {
            k: d.pop(k)
            for k in ("questions", "answerable", "unanswerable", "scored_for_evidence", "evidence_not_found")
        }
        out.update({f"hit@{k}": _round(v) for k, v in self.hit.items()})
        out.update({f"all@{k}": _round(v) for k, v in self.all.items()})
        out["mrr@10"] = _round(self.mrr10)
        out.update({_NAMES.get(k, k): v if isinstance(v, int) else _round(v) for k, v in d.items()})
        return out


def compute(results: Sequence[Result]) -> Metrics:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    gold = [r for r in answerable if r.scored_for_evidence]
    ranks = [first_relevant_rank(r) for r in gold]
    shorts = [r for r in answerable if r.short_answer is not None]
    support = [support_counts(r) for r in results]
    sentences = sum(total for _, total in support)
    latencies = [r.latency_ms for r in results]
    sure = [r.confidence for r in answerable if r.confidence is not None]
    unsure = [r.confidence for r in unanswerable if r.confidence is not None]
    return Metrics(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        scored_for_evidence=len(gold),
        evidence_not_found=sum(bool(r.evidence_problems) for r in results),
        hit={k: _mean(rank is not None and rank <= k for rank in ranks) for k in KS},
        all={k: _mean(all_covered(r, k) for r in gold) for k in KS},
        mrr10=_mean(1 / rank if rank else 0.0 for rank in ranks),
        answer_hit=_mean(answer_hit(r) for r in answerable),
        answer_recall=_mean(answer_recall(r) for r in answerable),
        short_answers=len(shorts),
        short_em=_mean(max(exact_match(r.short_answer, a) for a in r.answers) for r in shorts),
        short_f1=_mean(max(token_f1(r.short_answer, a) for a in r.answers) for r in shorts),
        evidence_cited=_mean(evidence_cited(r) for r in gold),
        answer_sentences=sentences,
        citation_support=sum(good for good, _ in support) / sentences if sentences else None,
        abstain_rate=_mean(r.abstained for r in unanswerable),
        false_abstain_rate=_mean(r.abstained for r in answerable),
        auroc=auroc(sure, unsure),
        abstain_fa10=abstain_at(sure, unsure),
        latency_ms_p50=float(np.percentile(latencies, 50)) if latencies else None,
        latency_ms_p95=float(np.percentile(latencies, 95)) if latencies else None,
    )


def by_type(results: Sequence[Result]) -> dict[str, Metrics]:
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.type or "untyped", []).append(r)
    return {name: compute(group) for name, group in sorted(groups.items())}


def delta(a: float | int | None, b: float | int | None) -> float | None:
    """b - a, when both exist."""
    return None if a is None or b is None else round(b - a, 4)


def _mean(values: Iterable[float | bool]) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
