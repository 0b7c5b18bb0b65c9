"""Answering: the sentences a person reads, each cited, or an honest "the documents don't say".

The answer is extractive: at most two sentences copied from the passages,
each followed by its citation marker. The best-scored sentence comes first; a
second is added when it completes the first (the nearby sentence holding the
number or date asked for) or says something new that scores close to it.
When the best sentence's confidence is below the threshold, the assistant
declines and lists the closest passages with their best sentence marked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from qa.phrases import extract_short
from qa.query import Query
from qa.records import Answer, Chunk, Citation, Document, Hit
from qa.scoring import Weights
from qa.stages import Candidate, Scored
from qa.text import normalize

NOT_IN_DOCUMENTS = "The documents don't say"
ECHO_CHARS = 200  # characters of a declined question quoted back; a pasted page is not repeated whole
CLOSEST = 3  # passages shown when declining


class ExtractiveAnswerer:
    """``Answerer`` that copies the best one or two sentences and cites their passages."""

    def __init__(self, weights: Weights | None = None, threshold: float | None = None):
        self.weights = weights or Weights()
        self.threshold = threshold  # overrides the scorer's own threshold when set (``--min-confidence``)

    def describe(self) -> dict:
        return {"answerer": type(self).__name__, "threshold_override": self.threshold}

    def answer(
        self,
        query: Query,
        scored: Sequence[Scored],
        hits: Sequence[Hit],
        documents: Callable[[str], Document],
        threshold: float,
    ) -> Answer:
        """Answer from ``scored`` (best first); ``hits`` are the passages the answer reports as retrieved."""
        confidence = scored[0].confidence if scored else 0.0
        if self.threshold is not None:
            threshold = self.threshold
        if not scored or confidence < threshold:
            text = f"{NOT_IN_DOCUMENTS} {_topic(query.question)}. The closest passages are listed below."
            return Answer(
                question=query.question,
                answer=text,
                short_answer=None,
                abstained=True,
                citations=(),
                retrieved=tuple(hits),
                latency_ms=0.0,
                confidence=confidence,
                closest=self._closest(hits, scored, documents),
            )
        chosen = self._comparison(query, scored) if query.comparison else []
        if not chosen:
            chosen = [scored[0]]
            second = self._second(scored)
            if second is not None:
                chosen.append(second)
        if len({s.doc for s in chosen}) == 1:
            chosen.sort(key=lambda s: s.candidate.start)  # sentences of one article read best in its order
        citations: list[Citation] = []
        parts = []
        for s in chosen:
            c = s.candidate
            n = next((cit.n for cit in citations if cit.chunk_id == c.hit.chunk.id), len(citations) + 1)
            if n > len(citations):
                citations.append(_citation(n, c.hit.chunk, c.start, c.end, documents))
            parts.append(f"{_flat(c.text)} [{n}]")
        texts = [_flat(s.candidate.text) for s in chosen]
        short = next((p for p in map(_marked_phrase, [scored[0], *chosen]) if p), None) or extract_short(
            query.question, texts, [_entity_spans(s.candidate, t, query.labels) for s, t in zip(chosen, texts)]
        )
        return Answer(
            question=query.question,
            answer=" ".join(parts),
            short_answer=short,
            abstained=False,
            citations=tuple(citations),
            retrieved=tuple(hits),
            latency_ms=0.0,
            confidence=confidence,
        )

    def _second(self, scored: Sequence[Scored]) -> Scored | None:
        """A second sentence worth adding: the nearby one holding the asked-for kind of phrase
        when the best sentence lacks it, else a close runner-up that is not a repeat."""
        w = self.weights
        first = scored[0]
        room = w.max_answer_words - _words(first)
        if not first.typed:
            near = [
                s
                for s in scored
                if s.doc == first.doc
                and s.typed
                and 0 < abs(s.candidate.row - first.candidate.row) <= w.neighbour_rows
                and _words(s) <= room
            ]
            if near:
                return min(
                    near,
                    key=lambda s: (abs(s.candidate.row - first.candidate.row), s.candidate.row < first.candidate.row),
                )
        for s in scored[1 : 1 + w.runners_up]:
            if _words(s) > room or self._repeats(s, first):
                continue
            if s.score >= w.runner_up_share * first.score:
                return s
            if (
                s.doc != first.doc
                and s.score >= w.other_doc_share * first.score
                and s.candidate.terms - first.candidate.terms
            ):
                return s
        return None

    def _comparison(self, query: Query, scored: Sequence[Scored]) -> list[Scored]:
        """For a comparison, the best sentence and, for each side it does not speak of, the best sentence
        that does: one piece of evidence per side, at most ``comparison_sentences`` and ``comparison_words``."""
        w = self.weights
        chosen = [scored[0]]
        words = _words(scored[0])
        pool = list(scored[1 : 1 + w.comparison_pool])
        if query.sides:
            wanted = [side for side in query.sides if not any(side <= s.candidate.terms for s in chosen)]
        else:  # "which of the two ...": the best sentence that adds something of its own
            wanted = [frozenset()]
        for side in wanted:
            match = next(
                (
                    s
                    for s in pool
                    if side <= s.candidate.terms
                    and s not in chosen
                    and not any(self._repeats(s, c) for c in chosen)
                    and words + _words(s) <= w.comparison_words
                ),
                None,
            )
            if match is not None and len(chosen) < w.comparison_sentences:
                chosen.append(match)
                words += _words(match)
        return chosen

    def _repeats(self, a: Scored, b: Scored) -> bool:
        """Whether ``a`` says little that ``b`` does not (a lead summary and its body sentence)."""
        new = a.candidate.terms - b.candidate.terms
        return len(new) <= self.weights.repeat_new_terms or len(new) <= self.weights.repeat_new_share * len(
            a.candidate.terms
        )

    @staticmethod
    def _closest(
        hits: Sequence[Hit], scored: Sequence[Scored], documents: Callable[[str], Document]
    ) -> tuple[Citation, ...]:
        """The top passages, each with its best-scoring sentence marked (else the passage itself)."""
        out = []
        for i, hit in enumerate(hits[:CLOSEST], 1):
            best = next((s.candidate for s in scored if s.candidate.hit.chunk.id == hit.chunk.id), None)
            start, end = (best.start, best.end) if best else (hit.chunk.start, hit.chunk.end)
            out.append(_citation(i, hit.chunk, start, end, documents))
        return tuple(out)


def _citation(n: int, chunk: Chunk, start: int, end: int, documents: Callable[[str], Document]) -> Citation:
    doc = documents(chunk.doc)
    return Citation(
        n=n,
        doc=doc.doc,
        title=doc.title,
        date=doc.date,
        chunk_id=chunk.id,
        start=chunk.start,
        end=chunk.end,
        text=chunk.text,
        sentence_start=start,
        sentence_end=end,
        kind=doc.kind,
        pages=doc.page_range(start, end),
    )


def _entity_spans(c: Candidate, flat: str, labels: frozenset[str]) -> list[tuple[int, int]]:
    """Where the sentence's entities of the asked-for labels sit in its flattened text."""
    out = []
    for e in c.entities:
        if e.label in labels:
            name = _flat(c.document.text[e.start : e.end])
            at = flat.find(name)
            if name and at >= 0:
                out.append((at, at + len(name)))
    return out


def _marked_phrase(s: Scored) -> str | None:
    """The scorer's answer phrase as the sentence spells it (the scorer read normalised text)."""
    if not s.short:
        return None
    words = s.short.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    found = re.search(pattern, normalize(_flat(s.candidate.text)), re.IGNORECASE)
    return found.group() if found else None


def _flat(text: str) -> str:
    return " ".join(text.split())


def _words(s: Scored) -> int:
    return len(s.candidate.text.split())


def _topic(question: str) -> str:
    q = question.strip().rstrip("?.! ")
    if len(q) > ECHO_CHARS:
        q = q[: ECHO_CHARS - 1].rstrip() + "…"
    return f"this: “{q}”" if q else "this"
