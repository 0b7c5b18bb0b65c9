"""Sentence scoring by a trained verifier and a calibrated probability.

``VerifiedScorer`` is the second ``SentenceScorer``: the hand-set
``FeatureScorer`` picks the few most promising sentences of a question, the
verifier (a cross-encoder, ``qa/verifier.py``) reads each with the question,
and a logistic regression (``qa/confidence.py``) turns the verifier's logit
and a few named features into P(this sentence answers the question). That
probability is both the sentence's score and the answer's confidence.

Every feature is local to the question and its sentence (no corpus-wide word
weights), so what the assistant says about an article does not change when
unrelated documents are added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.confidence import Calibrator
from qa.errors import ModelMissing
from qa.query import Query
from qa.records import Hit
from qa.scoring import QUESTION_TERMS, FeatureScorer
from qa.stages import Candidate, Scored, SentenceScorer
from qa.text import normalize, terms
from qa.verifier import Verifier

MODELS = Path(__file__).resolve().parent / "models"
CALIBRATOR = MODELS / "confidence.json"
READER = MODELS / "reader"  # the verifier's recipe with a span head: marks the short answer
PHRASE_SHARE = 0.5  # a marked phrase longer than this share of its sentence's words is not a short answer...
PHRASE_MIN_WORDS = 4  # ...unless it is this short (a short sentence may be mostly its answer); not searched
CANDIDATES = 8  # sentences the verifier reads per question: enough to hold the answer, few enough to stay fast
FEATURES = (
    "verifier",  # the verifier's logit for (question, sentence in context)
    "dense",  # cosine similarity of question and sentence (bi-encoder)
    "coverage",  # share of the question's content words in the sentence
    "coverage_meta",  # the same, counting the article's title and date
    "names",  # share of the question's names, numbers and years the sentence or title repeats
    "wants_entity",  # the question asks for a kind of entity (who, when, how many, which country ...)
    "entity_match",  # the sentence names such an entity that the question does not
    "passage_rank",  # rank of the sentence's passage (0 first)
    "passage_score",  # its retrieval score relative to the best passage's
    "feature_rank",  # the sentence's rank among the candidates by the hand-set features
)
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*|\b\d[\d,.]*\d\b|\b\d\b")


class VerifiedScorer:
    """``SentenceScorer``: hand-set features choose, a verifier reads, a calibrated model decides."""

    def __init__(
        self,
        preselect: FeatureScorer,
        verifier: Verifier | None = None,
        calibrator: Calibrator | None = None,
        candidates: int = CANDIDATES,
    ):
        self.preselect = preselect
        self.verifier = verifier or Verifier()
        if calibrator is None and not CALIBRATOR.is_file():
            raise ModelMissing(f"no calibrated confidence at {CALIBRATOR}: run benchmarks/fit_confidence.py")
        self.calibrator = calibrator or Calibrator.load(CALIBRATOR)
        self.candidates = candidates
        self.threshold = self.calibrator.threshold
        self.reranks = True  # the verified probability orders passages better than retrieval alone
        if tuple(self.calibrator.features) != FEATURES:
            raise ValueError(f"{CALIBRATOR} was fitted on other features: refit it with benchmarks/fit_confidence.py")

    def describe(self) -> dict:
        c = self.calibrator
        return {
            "scorer": type(self).__name__,
            "candidates": self.candidates,
            "preselect": self.preselect.describe(),
            "calibrator": {"features": list(c.features), "weights": list(c.weights), "bias": c.bias, **c.info},
        }

    def score(self, query: Query, hits: Sequence[Hit], candidates: Sequence[Candidate]) -> list[Scored]:
        first = self.preselect.score(query, hits, candidates)
        top, rest = first[: self.candidates], first[self.candidates :]
        if not top:
            return []
        x, phrases = self.features(query, hits, top)
        p = self.calibrator.probability(x)
        scored = [Scored(s.candidate, float(pi), float(pi), s.typed, ph) for s, pi, ph in zip(top, p, phrases)]
        scored.sort(key=lambda s: -s.score)
        # The rest keep their hand-set order below every verified sentence.
        return scored + [Scored(s.candidate, -1.0 + 1e-6 * s.score, 0.0, s.typed) for s in rest]

    def features(
        self, query: Query, hits: Sequence[Hit], top: Sequence[Scored]
    ) -> tuple[np.ndarray, tuple[str | None, ...]]:
        """One row of ``FEATURES`` per preselected sentence, in the given order, and the answer
        phrase the verifier marks in each sentence."""
        cs = [s.candidate for s in top]
        reading = self.verifier.read(
            query.question, [(c.document.title, c.neighbours[0], c.text, c.neighbours[1]) for c in cs]
        )
        logits = reading.logits
        wanted = query.labels
        asked = content_terms(query.question)
        names = question_names(query.question)
        best_hit = hits[0].score if hits and hits[0].score > 0 else 1.0
        rows = []
        for i, c in enumerate(cs):
            meta = self.preselect.meta_terms(c)
            rows.append(
                [
                    float(logits[i]),
                    c.dense,
                    share(asked, c.terms),
                    share(asked, c.terms | meta),
                    names_share(names, c.text + " " + c.document.title),
                    float(bool(wanted)),
                    float(entity_match(c, wanted, query.question)),
                    float(c.rank),
                    c.hit.score / best_hit,
                    float(i),
                ]
            )
        return np.asarray(rows, dtype=np.float64), reading.phrases


class PhraseMarker:
    """``SentenceScorer`` that leaves the scoring to another and has the reader (``qa/models/reader``,
    a cross-encoder with a span head) mark the answer phrase in the best sentence: the short answer.
    One pair per question. On 500 SQuAD v1.1 ``train``-article questions (feature scorer), the short
    answer was exact for 52% of the 456 answered, against 38% of the 267 the entity rules could type."""

    def __init__(self, scorer: SentenceScorer, reader: Verifier | None = None):
        self.scorer = scorer
        self.verifier = reader or Verifier(READER)
        self.threshold = scorer.threshold
        self.reranks = scorer.reranks

    def describe(self) -> dict:
        return {**self.scorer.describe(), "short_answers": f"span head of {self.verifier.path.name}"}

    def score(self, query: Query, hits: Sequence[Hit], candidates: Sequence[Candidate]) -> list[Scored]:
        scored = self.scorer.score(query, hits, candidates)
        if not scored or scored[0].short:
            return scored
        c = scored[0].candidate
        phrase = self.verifier.read(query.question, [(c.document.title, c.neighbours[0], c.text, c.neighbours[1])])
        marked = phrase.phrases[0]
        if marked and len(marked.split()) > max(PHRASE_MIN_WORDS, PHRASE_SHARE * len(c.text.split())):
            marked = None  # most of the sentence is no short answer: the entity rules may find one
        return [replace(scored[0], short=marked), *scored[1:]]


def content_terms(question: str) -> frozenset[str]:
    return frozenset(t for t in terms(question) if t not in QUESTION_TERMS)


def share(asked: frozenset[str], found: frozenset[str]) -> float:
    return len(asked & found) / len(asked) if asked else 0.0


def question_names(question: str) -> list[str]:
    """The names, numbers and years a question itself gives (capitalised runs not opening it, digits)."""
    q = normalize(question)
    out = []
    for m in _NAME.finditer(q):
        name = m.group() if m.start() else m.group().partition(" ")[2]  # the question's first word is no name
        if name:
            out.append(name.lower())
    return out


def names_share(names: Sequence[str], text: str) -> float:
    if not names:
        return 1.0
    low = normalize(text).lower()
    return sum(n in low for n in set(names)) / len(set(names))


def entity_match(c: Candidate, wanted: frozenset[str], question: str) -> bool:
    """Whether the sentence names an entity of a wanted label that the question does not already name."""
    if not wanted:
        return False
    q = normalize(question).lower()
    doc = c.document.text
    return any(e.label in wanted and normalize(doc[e.start : e.end]).lower() not in q for e in c.entities)
