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
        """Read a line written by ``to_dict``, or by older code (citations without title, date or sentence span)."""
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


# -- aggregates ------------------------------------------------------------------------------


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
        out.update({k: v if isinstance(v, int) else _round(v) for k, v in d.items()})
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
