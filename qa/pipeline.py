"""The one pipeline that answers a question: read it, search, gather sentences, score, answer.

``Pipeline.run`` is what ``Assistant.ask`` calls, and through it the CLI, the
app and the evaluator; ``Pipeline.search`` is its first half, which
``Assistant.retrieve`` calls. The query is encoded once per question and the
ranking the answer used is returned with it, to any depth asked.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.query import NEWEST_PASSAGES, Query, Timeline, read_query
from qa.records import Answer, Chunk, Document, Filter, Hit, Sentence, Turn
from qa.retrieve import Retriever
from qa.stages import Answerer, Candidate, Embedder, Scored, SentenceScorer, VectorIndex
from qa.text import normalize, terms


@dataclass(frozen=True)
class Search:
    """What the search found for one query."""

    query: Query
    vector: np.ndarray  # the query's embedding (sentences are scored against it)
    ranking: list[Hit]  # best first, to max(k, depth)
    k: int  # the answer is built from ranking[:k]
    also: list[Hit]  # passages of the newest articles, searched apart for a question about now

    @property
    def hits(self) -> list[Hit]:
        return self.ranking[: self.k]


class SentenceTable:
    """The sentences of an index, found by passage; their terms are computed once and kept."""

    def __init__(self, sentences: Sequence[Sentence], documents: dict[str, Document], vectors: VectorIndex):
        self.sentences = sentences
        self.documents = documents
        self.vectors = vectors
        # Each document's rows: as the loaded build counted them (``LazySentences.ranges``), else found here
        ranges = getattr(sentences, "ranges", None)
        if ranges is not None:
            self._rows: dict[str, Sequence[int]] = {doc: range(lo, hi) for doc, (lo, hi) in ranges.items()}
        else:
            self._rows = {}
            for row, s in enumerate(sentences):
                self._rows.setdefault(s.doc, []).append(row)  # type: ignore[union-attr]
        self._by_doc: dict[str, tuple[list[int], Sequence[int]]] = {}  # starts and rows, made on first use
        self._terms: dict[int, frozenset[str]] = {}  # dict writes are atomic: threads may share it

    def rows_in(self, chunk: Chunk) -> list[int]:
        found = self._by_doc.get(chunk.doc)
        if found is None:
            rows = self._rows.get(chunk.doc, ())
            found = self._by_doc[chunk.doc] = ([self.sentences[r].start for r in rows], rows)
        starts, rows = found
        i = bisect.bisect_left(starts, chunk.start)
        out = []
        while i < len(starts) and starts[i] < chunk.end:
            out.append(rows[i])
            i += 1
        return out

    def text(self, row: int, doc: str) -> str:
        """The text of sentence ``row`` if it belongs to ``doc``, else ''."""
        if not 0 <= row < len(self.sentences) or self.sentences[row].doc != doc:
            return ""
        s = self.sentences[row]
        return self.documents[doc].text[s.start : s.end]

    def terms(self, row: int, text: str) -> frozenset[str]:
        found = self._terms.get(row)
        if found is None:
            found = self._terms[row] = frozenset(terms(text))
        return found

    def candidates(self, vector: np.ndarray, hits: list[Hit], min_words: int) -> list[Candidate]:
        """Every sentence of ``hits`` once (in the best passage holding it), in passage and text order;
        headings, fragments shorter than ``min_words`` and questions are left out."""
        seen: set[int] = set()
        out: list[Candidate] = []
        by_hit = [self.rows_in(hit.chunk) for hit in hits]
        every = sorted({row for rows in by_hit for row in rows})  # one look-up for all (a Milvus round trip)
        similarity = dict(zip(every, self.vectors.similarity(vector, every).tolist())) if every else {}
        for rank, (hit, rows) in enumerate(zip(hits, by_hit)):
            if not rows:
                continue
            doc = self.documents[hit.chunk.doc]
            dense = [similarity[row] for row in rows]
            for row, d in zip(rows, dense):
                if row in seen:
                    continue
                seen.add(row)
                s = self.sentences[row]
                text = doc.text[s.start : s.end]
                if len(text.split()) < min_words or text.rstrip("”\"' ").endswith("?"):
                    continue
                out.append(
                    Candidate(
                        row,
                        doc,
                        s.start,
                        s.end,
                        text,
                        hit,
                        rank,
                        float(d),
                        self.terms(row, text),
                        s.entities,
                        (self.text(row - 1, doc.doc), self.text(row + 1, doc.doc)),
                    )
                )
        return out


def rerank(ranking: list[Hit], scored: Sequence[Scored], k: int) -> list[Hit]:
    """The first ``k`` passages ordered by their best sentence's score (ties and unscored
    passages keep their retrieval order); passages past ``k`` stay as retrieved."""
    best: dict[str, float] = {}
    for s in scored:
        key = s.candidate.hit.chunk.id
        best[key] = max(best.get(key, -math.inf), s.score)
    top = sorted(enumerate(ranking[:k]), key=lambda ih: (-best.get(ih[1].chunk.id, -math.inf), ih[0]))
    return [h for _, h in top] + ranking[k:]


class Pipeline:
    """The stages of one loaded index, put together."""

    def __init__(
        self,
        embedder: Embedder,
        retriever: Retriever,
        sentences: SentenceTable,
        timeline: Timeline,
        scorer: SentenceScorer,
        answerer: Answerer,
        min_words: int,
    ):
        self.embedder = embedder
        self.retriever = retriever
        self.sentences = sentences
        self.timeline = timeline
        self.scorer = scorer
        self.answerer = answerer
        self.min_words = min_words

    def encode(self, text: str) -> np.ndarray:
        return self.embedder.encode([normalize(text)])[0]

    def read(self, question: str, history: tuple[Turn, ...] = ()) -> Query:
        return read_query(question, history, self.timeline.dated)

    def search(
        self, query: Query, k: int = 5, mode: str = "hybrid", where: Filter | None = None, depth: int = 0
    ) -> Search:
        """Encode the query once and rank passages to ``max(k, depth)``."""
        vector = self.encode(query.search)
        wanted = None if mode == "keyword" else vector
        ranking = self.retriever.search(query.search, wanted, max(k, depth, 1), mode, where)
        also: list[Hit] = []
        if where is None and query.about_now:
            # Sources disagree over time (who holds an office): let the newest articles have their say.
            newest = Filter(docs=self.timeline.newest)
            also = self.retriever.search(query.search, wanted, NEWEST_PASSAGES, mode, newest)
        return Search(query, vector, ranking, max(k, 1), also)

    def answer(self, search: Search) -> Answer:
        hits = search.hits
        seen = {h.chunk.id for h in hits}
        pool = hits + [h for h in search.also if h.chunk.id not in seen]
        candidates = self.sentences.candidates(search.vector, pool, self.min_words)
        scored = self.scorer.score(search.query, pool, candidates)
        answer = self.answerer.answer(
            search.query, scored, hits, self.sentences.documents.__getitem__, self.scorer.threshold
        )
        if not self.scorer.reranks:
            return replace(answer, ranking=tuple(search.ranking))
        ranking = rerank(search.ranking, scored, search.k)
        return replace(answer, retrieved=tuple(ranking[: len(hits)]), ranking=tuple(ranking))

    def run(
        self,
        question: str,
        history: tuple[Turn, ...] = (),
        k: int = 5,
        mode: str = "hybrid",
        where: Filter | None = None,
        depth: int = 0,
    ) -> Answer:
        started = time.perf_counter()
        answer = self.answer(self.search(self.read(question, history), k, mode, where, depth))
        return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)
