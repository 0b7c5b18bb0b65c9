"""Answering: pick the sentences of the retrieved passages that answer the question.

The answer is extractive: at most two sentences copied from the passages,
each followed by its citation marker. Sentences are scored on their
embedding similarity to the question, on how much of the question's rare
vocabulary they contain, on the rank of their passage, on whether they hold
the kind of thing asked for (a number for "how many", a date for "when"), and
on whether their date fits the question. When the best sentence scores below
a threshold set from the dev questions (``benchmarks/calibrate.py``), the
assistant says the documents don't say, and lists the closest passages.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qa.records import Answer, Chunk, Citation, Hit, Turn
from qa.retrieve import Retriever
from qa.text import normalize, terms

# Set by benchmarks/calibrate.py from ../shared/eval/dev_questions.jsonl (see its output in the README).
ABSTAIN_THRESHOLD = 0.45
MAX_ANSWER_WORDS = 60
NOT_IN_DOCUMENTS = "The documents don't say"

_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                 "hundred thousand million billion trillion dozen dozens").split()
_NUMBER = re.compile(
    r"(?:[$€£¥]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand))?"
    r"|\b(?:" + "|".join(_NUMBER_WORDS) + r")(?:[- ](?:" + "|".join(_NUMBER_WORDS) + r"))*\b", re.I)
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DATE = re.compile(
    _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?|\d{1,2}\s+" + _MONTH + r"(?:,?\s+\d{4})?|"
    + _MONTH + r"\s+\d{4}|\b(?:1[5-9]|20)\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of|de|van|von|the|al|bin)?\s*[A-Z][\w’'-]+)*")
_FOLLOW_UP = re.compile(r"\b(?:that|this|those|these|it|its|they|them|their|she|her|he|his|him|there|then|"
                        r"same|such|former|latter)\b|^(?:and|but|so|also|what about|how about)\b", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")


@dataclass(frozen=True)
class Candidate:
    row: int  # index of the sentence in the index's sentence table
    doc: str
    start: int
    end: int
    hit_rank: int
    hit: Hit
    score: float
    coverage: float
    dense: float


def expected_type(question: str) -> str | None:
    q = question.lower()
    if re.search(r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|amount|share|value)\b|\bhow (?:large|big)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (?:date|day|year|month|time)\b|\bwhich (?:date|day|year|month)\b|\bsince when\b", q):
        return "date"
    if re.search(r"\bwho(?:m|se)?\b", q):
        return "person"
    return None


def has_type(text: str, kind: str | None, question: str) -> bool:
    if kind is None:
        return True
    q = normalize(question).lower()
    if kind == "number":
        return any(m.group().strip().lower() not in q for m in _NUMBER.finditer(text)
                   if not _YEAR.fullmatch(m.group().strip()))
    if kind == "date":
        return any(m.group().lower() not in q for m in _DATE.finditer(text))
    return any(m.group().lower() not in q for m in _NAME.finditer(text) if m.start() > 0 or len(m.group().split()) > 1)


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question)) or len(terms(question)) <= 2


class Answerer:
    def __init__(self, retriever: Retriever, threshold: float = ABSTAIN_THRESHOLD):
        self.retriever = retriever
        self.threshold = threshold
        data = retriever.data
        self._sentences_by_doc: dict[str, tuple[list[int], list[int]]] = {}
        for row, s in enumerate(data.sentences):
            starts, rows = self._sentences_by_doc.setdefault(s.doc, ([], []))
            starts.append(s.start)
            rows.append(row)
        self._doc_year = {d: _anchor_year(doc.date, doc.text) for d, doc in data.documents.items()}

    # -- sentence scoring ---------------------------------------------------------------------

    @lru_cache(maxsize=100_000)
    def _terms(self, row: int) -> frozenset[str]:
        s = self.retriever.data.sentences[row]
        return frozenset(terms(self.retriever.data.documents[s.doc].text[s.start:s.end]))

    def _rows_in(self, chunk: Chunk) -> list[int]:
        starts, rows = self._sentences_by_doc.get(chunk.doc, ([], []))
        i = bisect.bisect_left(starts, chunk.start)
        out = []
        while i < len(starts) and starts[i] < chunk.end:
            out.append(rows[i])
            i += 1
        return out

    def candidates(self, question: str, qvec: np.ndarray, hits: list[Hit], context: str = "",
                   context_docs: frozenset[str] = frozenset()) -> list[Candidate]:
        data = self.retriever.data
        idf = self.retriever.idf
        q_terms = set(terms(question))
        c_terms = set(terms(context)) - q_terms
        q_weight = sum(idf.get(t, self.retriever.default_idf) for t in q_terms) or 1.0
        c_weight = sum(idf.get(t, self.retriever.default_idf) for t in c_terms) or 1.0
        kind = expected_type(question)
        years = set(_YEAR.findall(question))
        newest = max((self._doc_year.get(h.chunk.doc) or 0) for h in hits) if hits else 0
        best_hit = hits[0].score if hits else 1.0
        seen: set[int] = set()
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            doc = data.documents[hit.chunk.doc]
            title_terms = set(terms(doc.title))
            rows = self._rows_in(hit.chunk)
            if not rows:
                continue
            dense = data.sentence_vectors[rows] @ qvec
            for row, d in zip(rows, dense):
                if row in seen:
                    continue
                seen.add(row)
                s = data.sentences[row]
                text = doc.text[s.start:s.end]
                if len(text.split()) < 4:
                    continue  # headings and fragments are not answers
                st = self._terms(row)
                found = st | title_terms
                coverage = sum(idf.get(t, self.retriever.default_idf) for t in q_terms & st) / q_weight
                cov_title = sum(idf.get(t, self.retriever.default_idf) for t in q_terms & found) / q_weight
                ctx = sum(idf.get(t, self.retriever.default_idf) for t in c_terms & found) / c_weight
                score = 0.45 * float(d) + 0.35 * coverage + 0.15 * cov_title \
                    + 0.1 * (hit.score / best_hit if best_hit > 0 else 0) - 0.02 * rank
                if c_terms:
                    score += 0.15 * ctx
                if doc.doc in context_docs:
                    score += 0.1
                if not has_type(text, kind, question):
                    score -= 0.2
                score += self._time_bonus(text, doc.doc, years, newest)
                out.append(Candidate(row, doc.doc, s.start, s.end, rank, hit, score, coverage, float(d)))
        out.sort(key=lambda c: -c.score)
        return out

    def _time_bonus(self, text: str, doc: str, years: set[str], newest: int) -> float:
        doc_year = self._doc_year.get(doc)
        if years:
            said = set(_YEAR.findall(text))
            if said & years or (doc_year and str(doc_year) in years):
                return 0.06
            return -0.04 if doc_year else 0.0
        # No year asked: on a present-tense question prefer the newest source a little.
        if doc_year and newest and doc_year == newest:
            return 0.02
        return 0.0

    # -- answers ------------------------------------------------------------------------------

    def answer(self, question: str, hits: list[Hit], qvec: np.ndarray,
               history: tuple[Turn, ...] = (), latency_start: float | None = None) -> Answer:
        context, context_docs = "", frozenset()
        if history and is_follow_up(question):
            context = " ".join(t.question for t in history[-2:])
            last = history[-1].answer
            if last is not None and not last.abstained:
                context_docs = frozenset(c.doc for c in last.citations)
        cands = self.candidates(question, qvec, hits, context, context_docs)
        confidence = _confidence(cands[0]) if cands else 0.0
        if not cands or confidence < self.threshold:
            closest = self._closest(hits)
            text = f"{NOT_IN_DOCUMENTS} {_topic(question)}. The closest passages are listed below."
            return Answer(question=question, answer=text, short_answer=None, abstained=True, citations=(),
                          retrieved=tuple(hits), latency_ms=0.0, confidence=confidence, closest=closest)
        chosen = [cands[0]]
        words = len(self._text(cands[0]).split())
        for c in cands[1:6]:
            if words + len(self._text(c).split()) > MAX_ANSWER_WORDS:
                continue
            if c.score >= 0.8 * cands[0].score or (c.doc != cands[0].doc and c.score >= 0.65 * cands[0].score
                                                    and self._adds(c, chosen, question)):
                chosen.append(c)
                break
        if len(chosen) == 2 and chosen[0].doc == chosen[1].doc and chosen[1].start < chosen[0].start:
            chosen.reverse()  # two sentences of one article read best in its order
        citations: list[Citation] = []
        parts = []
        for c in chosen:
            n = next((cit.n for cit in citations if cit.chunk_id == c.hit.chunk.id), len(citations) + 1)
            if n > len(citations):
                citations.append(self._citation(n, c.hit.chunk, c.start, c.end))
            parts.append(f"{self._text(c)} [{n}]")
        short = extract_short(question, [self._text(c) for c in chosen])
        return Answer(question=question, answer=" ".join(parts), short_answer=short, abstained=False,
                      citations=tuple(citations), retrieved=tuple(hits), latency_ms=0.0, confidence=confidence)

    def _adds(self, c: Candidate, chosen: list[Candidate], question: str) -> bool:
        q = set(terms(question))
        have = set().union(*(self._terms(x.row) for x in chosen)) & q
        return bool((self._terms(c.row) & q) - have)

    def _text(self, c: Candidate) -> str:
        raw = self.retriever.data.documents[c.doc].text[c.start:c.end]
        return " ".join(_BULLET.sub("", raw).split())

    def _citation(self, n: int, chunk: Chunk, start: int, end: int) -> Citation:
        doc = self.retriever.data.documents[chunk.doc]
        return Citation(n=n, doc=doc.doc, title=doc.title, date=doc.date, chunk_id=chunk.id,
                        start=chunk.start, end=chunk.end, text=chunk.text, sentence_start=start, sentence_end=end)

    def _closest(self, hits: list[Hit], n: int = 3) -> tuple[Citation, ...]:
        out = []
        for i, hit in enumerate(hits[:n], 1):
            rows = self._rows_in(hit.chunk)
            s = self.retriever.data.sentences[rows[0]] if rows else None
            out.append(self._citation(i, hit.chunk, s.start if s else hit.chunk.start,
                                      s.end if s else hit.chunk.end))
        return tuple(out)


def _confidence(c: Candidate) -> float:
    return 0.5 * c.dense + 0.5 * c.coverage


def _anchor_year(date: str | None, text: str) -> int | None:
    if date:
        return int(date[:4])
    years = [int(y) for y in _YEAR.findall(text)]
    return max(years) if years else None


def _topic(question: str) -> str:
    q = question.strip().rstrip("?.! ")
    return f"this: “{q}”" if q else "this"


def extract_short(question: str, sentences: list[str]) -> str | None:
    """The phrase in the first sentence that answers the question, when its kind is clear."""
    kind = expected_type(question)
    text = sentences[0] if sentences else ""
    q = normalize(question).lower()
    if kind == "number":
        pattern = _NUMBER
    elif kind == "date":
        pattern = _DATE
    elif kind == "person" or re.match(r"\s*(which|what)\b", q):
        pattern = _NAME
    else:
        return None
    q_terms = set(terms(question))
    best, best_score = None, -1e9
    anchors = [m.start() for m in re.finditer(r"\w+", text) if set(terms(m.group())) & q_terms]
    for m in pattern.finditer(text):
        phrase = m.group().strip(" ,.")
        if not phrase or phrase.lower() in q or (kind == "number" and _YEAR.fullmatch(phrase)):
            continue
        if kind != "number" and kind != "date" and set(terms(phrase)) <= q_terms:
            continue
        dist = min((abs(m.start() - a) for a in anchors), default=0)
        score = -dist + (5 if kind in ("person", None) and len(phrase.split()) > 1 else 0)
        if score > best_score:
            best, best_score = phrase, score
    return best
