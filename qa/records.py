"""Typed records that flow between the pipeline stages.

Every record is a frozen dataclass. Character offsets always refer to the
document's original text (the file decoded as UTF-8, newlines untouched), so
``document.text[start:end] == chunk.text`` holds for every chunk and citation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    """One source document after loading and cleaning."""

    doc: str  # path relative to the corpus folder, or the record id of a JSON Lines corpus
    title: str
    date: str | None  # ISO date (YYYY-MM-DD, YYYY-MM or YYYY) or None when unknown
    text: str  # the original text, exactly as read
    segments: tuple[tuple[int, int], ...]  # spans of body text kept after cleaning
    content_hash: str


@dataclass(frozen=True)
class Sentence:
    doc: str
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: a run of whole sentences of one document."""

    id: str  # hash of source and text
    doc: str
    start: int
    end: int
    text: str  # == document.text[start:end]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever scores."""

    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None

    def to_dict(self) -> dict:
        c = self.chunk
        return {"doc": c.doc, "chunk_id": c.id, "start": c.start, "end": c.end,
                "score": round(self.score, 6)}


@dataclass(frozen=True)
class Citation:
    """A cited passage. ``sentence_start``/``sentence_end`` mark the supporting
    sentence inside the passage, as absolute offsets in the document text."""

    n: int
    doc: str
    title: str
    date: str | None
    chunk_id: str
    start: int
    end: int
    text: str
    sentence_start: int
    sentence_end: int

    @property
    def sentence(self) -> str:
        return self.text[self.sentence_start - self.start:self.sentence_end - self.start]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sentence"] = self.sentence
        return d


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, as the API takes it back."""

    question: str
    answer: Answer | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str  # the full text shown to the user, with [n] markers
    short_answer: str | None
    abstained: bool
    citations: tuple[Citation, ...]
    retrieved: tuple[Hit, ...]
    latency_ms: float
    confidence: float = 0.0
    closest: tuple[Citation, ...] = field(default=())  # shown when abstaining

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "citations": [
                {"n": c.n, "doc": c.doc, "title": c.title, "date": c.date,
                 "chunk_id": c.chunk_id, "start": c.start, "end": c.end, "text": c.text,
                 "sentence": c.sentence}
                for c in self.citations
            ],
            "closest": [
                {"n": c.n, "doc": c.doc, "title": c.title, "date": c.date,
                 "chunk_id": c.chunk_id, "start": c.start, "end": c.end, "text": c.text}
                for c in self.closest
            ],
            "retrieved": [h.to_dict() for h in self.retrieved],
            "confidence": round(self.confidence, 4),
            "latency_ms": round(self.latency_ms, 2),
        }
