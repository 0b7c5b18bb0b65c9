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

import numpy as np

from qa.phrases import YEAR, expected_type, extract_short, has_type
from qa.records import Answer, Chunk, Citation, Hit, Turn
from qa.retrieve import Retriever
from qa.text import MONTH_NAMES, terms

# Set by benchmarks/calibrate.py from eval/dev_questions.jsonl (it prints the value; 0.408 last run).
ABSTAIN_THRESHOLD = 0.41
MAX_ANSWER_WORDS = 60
NOT_IN_DOCUMENTS = "The documents don't say"

_FOLLOW_UP = re.compile(r"\b(?:that|this|those|these|it|its|they|them|their|she|her|he|his|him|there|then|"
                        r"same|such|former|latter)\b|^(?:and|but|so|also|what about|how about)\b", re.I)
_NOW = re.compile(r"\bwho\s+(?:is|are)\b|\b(?:current(?:ly)?|now|today|at present|these days)\b", re.I)
# Words that say what kind of answer is wanted, not what it is about.
QUESTION_TERMS = frozenset(terms(
    "many much number date day year month time name names kind type value describe compare become became "
    "happen happened called call long far often current currently now today present"))


@dataclass(frozen=True)
class Candidate:
    row: int  # index of the sentence in the index's sentence table
    doc: str
    start: int
    end: int
    hit_rank: int
    hit: Hit
    score: float
    confidence: float
    dense: float
    typed: bool  # holds a phrase of the kind the question asks for


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
        self.dated = sum(doc.date is not None for doc in data.documents.values()) >= 0.5 * len(data.documents)
        # Per-instance caches (dict writes are atomic, so threads may share them).
        self._term_cache: dict[int, frozenset[str]] = {}
        self._meta_cache: dict[str, frozenset[str]] = {}

    # -- sentence scoring ---------------------------------------------------------------------

    def _terms(self, row: int) -> frozenset[str]:
        found = self._term_cache.get(row)
        if found is None:
            s = self.retriever.data.sentences[row]
            text = self.retriever.data.documents[s.doc].text[s.start:s.end]
            found = self._term_cache[row] = frozenset(terms(text))
        return found

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
        """Every sentence of the retrieved passages, best first."""
        data = self.retriever.data
        weights = self._weights(question, context)
        kind = expected_type(question)
        years = set(YEAR.findall(question))
        present = self.asks_about_now(question)
        newest = max((self._doc_year.get(h.chunk.doc) or 0) for h in hits) if hits else 0
        best_hit = hits[0].score if hits and hits[0].score > 0 else 1.0
        seen: set[int] = set()
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            doc = data.documents[hit.chunk.doc]
            rows = self._rows_in(hit.chunk)
            if not rows:
                continue
            meta = self._meta_terms(doc.doc)
            dense = data.sentence_vectors[rows] @ qvec
            for row, d in zip(rows, dense):
                if row in seen:
                    continue
                seen.add(row)
                s = data.sentences[row]
                text = doc.text[s.start:s.end]
                if len(text.split()) < 4 or text.rstrip("”\"' ").endswith("?"):
                    continue  # headings, fragments and questions are not answers
                own = self._terms(row)
                coverage = _covered(weights, own)
                with_meta = _covered(weights, own | meta)
                score = 0.45 * float(d) + 0.3 * coverage + 0.2 * with_meta \
                    + 0.1 * hit.score / best_hit - 0.02 * rank
                if doc.doc in context_docs:
                    score += 0.1
                typed = has_type(text, kind, question)
                if not typed:
                    score -= 0.15
                score += self._time_bonus(text, doc.doc, years, newest, present)
                confidence = 0.5 * float(d) + 0.5 * with_meta
                out.append(Candidate(row, doc.doc, s.start, s.end, rank, hit, score, confidence, float(d), typed))
        out.sort(key=lambda c: -c.score)
        return out

    def _weights(self, question: str, context: str) -> dict[str, float]:
        """IDF weight of each question term; terms of earlier turns count half."""
        idf, default = self.retriever.idf, self.retriever.default_idf
        weights = {t: idf.get(t, default) for t in terms(question) if t not in QUESTION_TERMS}
        for t in terms(context):
            if t not in QUESTION_TERMS and t not in weights:
                weights[t] = 0.5 * idf.get(t, default)
        return weights

    def _meta_terms(self, doc: str) -> frozenset[str]:
        """Terms a sentence inherits from its document: title words, and the date's year and month."""
        if doc not in self._meta_cache:
            self._meta_cache[doc] = self._compute_meta_terms(doc)
        return self._meta_cache[doc]

    def _compute_meta_terms(self, doc: str) -> frozenset[str]:
        document = self.retriever.data.documents[doc]
        extra = document.title
        if document.date:
            extra += " " + document.date[:4]
            if len(document.date) >= 7:
                extra += " " + MONTH_NAMES[int(document.date[5:7]) - 1]
        elif self._doc_year.get(doc):
            extra += f" {self._doc_year[doc]}"
        return frozenset(terms(extra))

    def _time_bonus(self, text: str, doc: str, years: set[str], newest: int, present: bool) -> float:
        doc_year = self._doc_year.get(doc)
        if years:
            said = set(YEAR.findall(text))
            if said & years or (doc_year and str(doc_year) in years):
                return 0.06
            return -0.04 if doc_year else 0.0
        # No year asked: prefer the newest source a little; when the question asks about now, in a
        # collection of dated articles, prefer it clearly and hold older ones back by their age.
        if not (doc_year and newest):
            return 0.0
        if present and self.dated:
            return 0.08 if doc_year == newest else -min(0.15, 0.05 * (newest - doc_year))
        return 0.02 if doc_year == newest else 0.0

    # -- answers ------------------------------------------------------------------------------

    def asks_about_now(self, question: str) -> bool:
        """A question about the present ("Who is ...", "current") that names no year, asked of a
        collection of dated articles (news, not an encyclopaedia)."""
        return self.dated and bool(_NOW.search(question)) and not YEAR.search(question)

    @property
    def newest_docs(self) -> frozenset[str]:
        """The documents of the latest year in the collection (by date, else the latest year they mention)."""
        latest = max((y for y in self._doc_year.values() if y), default=None)
        return frozenset(d for d, y in self._doc_year.items() if y == latest)

    def answer(self, question: str, hits: list[Hit], qvec: np.ndarray,
               history: tuple[Turn, ...] = (), also: list[Hit] | None = None) -> Answer:
        """Answer from the sentences of ``hits`` (and of ``also``, passages found apart, e.g. in the
        newest articles); ``hits`` are what the answer reports as retrieved."""
        pool = hits + [h for h in also or () if h.chunk.id not in {x.chunk.id for x in hits}]
        context, context_docs = "", frozenset()
        if history and is_follow_up(question):
            context = " ".join(t.question for t in history[-2:])
            last = history[-1].answer
            if last is not None and not last.abstained:
                context_docs = frozenset(c.doc for c in last.citations)
        cands = self.candidates(question, qvec, pool, context, context_docs)
        confidence = cands[0].confidence if cands else 0.0
        if not cands or confidence < self.threshold:
            closest = self._closest(hits, cands)
            text = f"{NOT_IN_DOCUMENTS} {_topic(question)}. The closest passages are listed below."
            return Answer(question=question, answer=text, short_answer=None, abstained=True, citations=(),
                          retrieved=tuple(hits), latency_ms=0.0, confidence=confidence, closest=closest)
        chosen = [cands[0]]
        second = self._second(cands)
        if second is not None:
            chosen.append(second)
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

    def _second(self, cands: list[Candidate]) -> Candidate | None:
        """A second sentence worth adding: the nearby one holding the asked-for kind of phrase
        when the best sentence lacks it, else a close runner-up that is not a repeat."""
        first = cands[0]
        room = MAX_ANSWER_WORDS - self._words(first)
        if not first.typed:
            near = [c for c in cands if c.doc == first.doc and c.typed and 0 < abs(c.row - first.row) <= 4
                    and self._words(c) <= room]
            if near:
                return min(near, key=lambda c: (abs(c.row - first.row), c.row < first.row))
        for c in cands[1:6]:
            if self._words(c) > room or self._repeats(c, first):
                continue
            if c.score >= 0.8 * first.score:
                return c
            if c.doc != first.doc and c.score >= 0.65 * first.score and self._terms(c.row) - self._terms(first.row):
                return c
        return None

    def _repeats(self, a: Candidate, b: Candidate) -> bool:
        """Whether ``a`` says little that ``b`` does not (a lead summary and its body sentence)."""
        new = self._terms(a.row) - self._terms(b.row)
        return len(new) <= 2 or len(new) <= 0.25 * len(self._terms(a.row))

    def _words(self, c: Candidate) -> int:
        return len(self._text(c).split())

    def _text(self, c: Candidate) -> str:
        raw = self.retriever.data.documents[c.doc].text[c.start:c.end]
        return " ".join(raw.split())

    def _citation(self, n: int, chunk: Chunk, start: int, end: int) -> Citation:
        doc = self.retriever.data.documents[chunk.doc]
        return Citation(n=n, doc=doc.doc, title=doc.title, date=doc.date, chunk_id=chunk.id,
                        start=chunk.start, end=chunk.end, text=chunk.text, sentence_start=start, sentence_end=end)

    def _closest(self, hits: list[Hit], cands: list[Candidate], n: int = 3) -> tuple[Citation, ...]:
        """The top passages, each with its best-scoring sentence marked (else the passage itself)."""
        out = []
        for i, hit in enumerate(hits[:n], 1):
            best = next((c for c in cands if c.hit.chunk.id == hit.chunk.id), None)
            start, end = (best.start, best.end) if best else (hit.chunk.start, hit.chunk.end)
            out.append(self._citation(i, hit.chunk, start, end))
        return tuple(out)


def _covered(weights: dict[str, float], found: frozenset[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in found) / total if total else 0.0


def _anchor_year(date: str | None, text: str) -> int | None:
    if date:
        return int(date[:4])
    years = [int(y) for y in YEAR.findall(text)]
    return max(years) if years else None


def _topic(question: str) -> str:
    q = question.strip().rstrip("?.! ")
    return f"this: “{q}”" if q else "this"
