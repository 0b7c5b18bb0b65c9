"""The seams of the pipeline: what each stage takes and gives, and nothing about how.

    question ─► query policy (qa/query.py) ─► Embedder ─► Retriever over a VectorIndex
    and a KeywordIndex ─► candidate sentences ─► SentenceScorer ─► Answerer ─► Answer

Each protocol's implementations are named beside it; a new one (a trained
verifier, another model) plugs in through ``Assistant(...)``, and a new index
engine through ``qa/engines.py``, without editing its neighbours. Only a
stage's own module touches its library's types (FAISS in ``qa/faiss_index.py``,
bm25s in ``qa/bm25_index.py``, Milvus in ``qa/milvus_index.py``, ONNX Runtime
in ``qa/embed.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qa.query import Query
from qa.records import Answer, Document, Entity, Filter, Hit

Progress = Callable[[int, int], None]  # (done, total)


class Embedder(Protocol):
    """Text to normalised vectors (``qa.embed.MiniLMEmbedder``; ``HashEmbedder`` for tests)."""

    name: str
    dimension: int
    max_tokens: int  # word pieces the model reads, special tokens included

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray: ...


class EntityTagger(Protocol):
    """Named entities of short texts (``qa.entities.SpacyTagger``; ``NoTagger`` for fast tests)."""

    name: str

    def find(self, texts: Sequence[str]) -> list[tuple[tuple[int, int, str], ...]]:
        """For each text, its entities as (start, end, label), offsets relative to that text."""
        ...


class VectorIndex(Protocol):
    """Vectors by integer id, searched by inner product (``qa.faiss_index.FaissIndex``)."""

    dimension: int

    def __len__(self) -> int: ...

    def search(
        self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, where: Filter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids and their scores, best first; with ``allowed_ids`` only among them.

        ``where`` is the filter those ids were chosen by: an index that keeps each row's document and
        date (Milvus) filters by it instead, in the engine; one that holds only vectors uses the ids."""
        ...

    def similarity(self, vector: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Inner product of ``vector`` with the stored vectors of ``ids``, in that order."""
        ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray: ...


class KeywordIndex(Protocol):
    """Keyword (BM25) scores of rows for a query's terms (``qa.bm25_index.BM25Index``,
    ``qa.milvus_index.MilvusKeywords``)."""

    def __len__(self) -> int: ...

    def search(
        self, query_terms: Sequence[str], k: int, allowed_ids: np.ndarray | None = None, where: Filter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` ids of rows holding a term, best first, and their scores (as ``VectorIndex.search``)."""
        ...

    def scores_of(self, query_terms: Sequence[str], ids: np.ndarray) -> np.ndarray:
        """The score of each of ``ids``, in that order; zero for a row with none of the terms."""
        ...

    def idf(self, term: str) -> float:
        """How rare ``term`` is in the indexed texts (unknown terms count as rarest)."""
        ...


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, as the scorers see it."""

    row: int  # the sentence's id in the index
    document: Document
    start: int
    end: int
    text: str  # document.text[start:end]
    hit: Hit  # the passage it was found in
    rank: int  # that passage's rank, 0 first
    dense: float  # cosine similarity of the sentence with the question
    terms: frozenset[str]  # its keyword terms (qa.text.terms)
    entities: tuple[Entity, ...] = ()  # found at index time; offsets in the document text
    neighbours: tuple[str, str] = ("", "")  # the sentences before and after it in its document


@dataclass(frozen=True)
class Scored:
    """A candidate with what a scorer made of it."""

    candidate: Candidate
    score: float  # for ranking candidates of one question
    confidence: float  # for deciding whether to answer at all
    typed: bool  # holds a phrase of the kind the question asks for
    short: str | None = None  # the phrase of it that answers the question, when the scorer can tell

    @property
    def doc(self) -> str:
        return self.candidate.document.doc


class SentenceScorer(Protocol):
    """Scores the candidate sentences of a question (``qa.scoring.FeatureScorer``, ``qa.verified.VerifiedScorer``)."""

    threshold: float  # the confidence below which its best sentence is no answer
    reranks: bool  # whether passages are reordered by their best sentence's score

    def score(self, query: Query, hits: Sequence[Hit], candidates: Sequence[Candidate]) -> list[Scored]:
        """Every candidate (a sentence of one of ``hits``) scored, best first; ties keep the given order."""
        ...

    def describe(self) -> dict: ...


class Answerer(Protocol):
    """Turns scored sentences into the answer a person reads (``qa.answer.ExtractiveAnswerer``)."""

    def answer(
        self,
        query: Query,
        scored: Sequence[Scored],
        hits: Sequence[Hit],
        documents: Callable[[str], Document],
        threshold: float,
    ) -> Answer:
        """The answer from ``scored`` (best first), declining when the best confidence is below ``threshold``."""
        ...

    def describe(self) -> dict: ...
