"""Typed records that flow between the pipeline stages.

Every record is a frozen dataclass. Character offsets always refer to the
document's original text (the file decoded as UTF-8, newlines untouched), so
``document.text[start:end] == chunk.text`` holds for every chunk and citation.
"""

from __future__ import annotations

import bisect
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
    kind: str = "text"  # "text" (``text`` is the file as on disk) or the format it was extracted from: pdf, html, docx
    pages: tuple[int, ...] = ()  # where each page starts in ``text`` (PDF); empty when it has no pages
    author: str | None = None  # from the file's metadata (PDF, HTML, Word), when it names one

    @property
    def extracted(self) -> bool:
        """True when ``text`` was extracted from a PDF, HTML or Word file (and stored with the index build)."""
        return self.kind != "text"

    def page_range(self, start: int, end: int) -> tuple[int, int] | None:
        """The first and last page (1-based) of the span ``start:end``; None for a text without pages."""
        if not self.pages:
            return None
        page = lambda offset: max(1, bisect.bisect_right(self.pages, offset))  # noqa: E731
        return page(start), page(max(start, end - 1))

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.kind == "text":  # records of plain text stay as they were
            del d["kind"], d["pages"]
        if self.author is None:
            del d["author"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        return cls(
            doc=d["doc"],
            title=d["title"],
            date=d["date"],
            text=d["text"],
            segments=tuple((int(s), int(e)) for s, e in d["segments"]),
            content_hash=d["content_hash"],
            kind=str(d.get("kind", "text")),
            pages=tuple(int(p) for p in d.get("pages", ())),
            author=d.get("author"),
        )


@dataclass(frozen=True)
class Entity:
    """A named entity found at index time: a span of the document text and its label (PERSON, DATE ...)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Sentence:
    doc: str
    start: int
    end: int
    entities: tuple[Entity, ...] = ()  # in text order

    def to_dict(self) -> dict:
        return {
            "doc": self.doc,
            "start": self.start,
            "end": self.end,
            "entities": [[e.start, e.end, e.label] for e in self.entities],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Sentence:
        entities = tuple(Entity(int(s), int(e), str(label)) for s, e, label in d.get("entities", ()))
        return cls(doc=d["doc"], start=int(d["start"]), end=int(d["end"]), entities=entities)


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

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(id=d["id"], doc=d["doc"], start=int(d["start"]), end=int(d["end"]), text=d["text"])


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever scores."""

    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None

    def ref(self) -> HitRef:
        c = self.chunk
        return HitRef(doc=c.doc, chunk_id=c.id, start=c.start, end=c.end, score=round(self.score, 6))

    def to_dict(self) -> dict:
        return self.ref().to_dict()


@dataclass(frozen=True)
class HitRef:
    """A hit as it is written down (``ask --json``, ``results.jsonl``, feedback): where, not the text."""

    doc: str
    chunk_id: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HitRef:
        return cls(
            doc=d["doc"], chunk_id=d["chunk_id"], start=int(d["start"]), end=int(d["end"]), score=float(d["score"])
        )


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
    kind: str = "text"  # the document's format: "text", or "pdf", "html", "docx" (offsets into the extracted text)
    pages: tuple[int, int] | None = None  # first and last page of the passage, for a PDF

    @property
    def sentence(self) -> str:
        return self.text[self.sentence_start - self.start : self.sentence_end - self.start]

    @property
    def page_label(self) -> str:
        """ "page 3" or "pages 3-4" for a citation of a PDF, "" for other documents."""
        if self.pages is None:
            return ""
        first, last = self.pages
        return f"page {first}" if first == last else f"pages {first}-{last}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sentence"] = self.sentence
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Citation:
        """Read back what ``to_dict`` wrote (older records without the sentence span cite the whole passage)."""
        start, end = int(d["start"]), int(d["end"])
        return cls(
            n=int(d["n"]),
            doc=d["doc"],
            title=d.get("title", ""),
            date=d.get("date"),
            chunk_id=d["chunk_id"],
            start=start,
            end=end,
            text=d["text"],
            sentence_start=int(d.get("sentence_start", start)),
            sentence_end=int(d.get("sentence_end", end)),
            kind=str(d.get("kind", "text")),
            pages=tuple(int(p) for p in d["pages"]) if d.get("pages") else None,  # type: ignore[arg-type]
        )


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
    retrieved: tuple[Hit, ...]  # the k passages the answer was built from, best first
    latency_ms: float
    confidence: float = 0.0
    closest: tuple[Citation, ...] = field(default=())  # shown when abstaining
    ranking: tuple[Hit, ...] = field(default=())  # the same search to the depth asked (starts with ``retrieved``)

    def to_dict(self) -> dict:
        """The answer as ``qa ask --json`` prints it and feedback records it."""
        return {
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "closest": [c.to_dict() for c in self.closest],
            "retrieved": [h.to_dict() for h in self.retrieved],
            "confidence": round(self.confidence, 4),
            "latency_ms": round(self.latency_ms, 2),
        }


@dataclass(frozen=True)
class Filter:
    """Restrict retrieval to some documents and/or a date range (ISO strings, inclusive)."""

    docs: frozenset[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    def allows(self, doc: str, date: str | None) -> bool:
        if self.docs is not None and doc not in self.docs:
            return False
        if self.date_from or self.date_to:
            if not date:
                return False
            if self.date_from and date[: len(self.date_from)] < self.date_from:
                return False
            if self.date_to and date[: len(self.date_to)] > self.date_to:
                return False
        return True

    @property
    def active(self) -> bool:
        return self.docs is not None or bool(self.date_from or self.date_to)


@dataclass(frozen=True)
class ModelInfo:
    """The embedding model an index was built with."""

    name: str
    dimension: int
    max_tokens: int


@dataclass(frozen=True)
class DocumentEntry:
    """What an index remembers of one document: enough to tell whether it changed."""

    hash: str
    title: str
    date: str | None
    chunks: int
    sentences: int | None = None  # its rows of sentences.jsonl (None in builds made before they were counted)


@dataclass(frozen=True)
class FileStamp:
    """A corpus file as a build read it: a file whose size and mtime are unchanged is not read
    again, and one whose raw bytes hash the same is not cleaned again."""

    size: int
    mtime_ns: int
    sha256: str  # of the raw bytes
    docs: tuple[tuple[str, str], ...] = ()  # (document id, where it was read: the file or "file:line")
    skipped: tuple[tuple[str, str], ...] = ()  # (record, reason) of its records that were skipped

    @classmethod
    def from_dict(cls, d: dict) -> FileStamp:
        return cls(
            int(d["size"]),
            int(d["mtime_ns"]),
            str(d["sha256"]),
            tuple((str(a), str(b)) for a, b in d["docs"]),
            tuple((str(a), str(b)) for a, b in d["skipped"]),
        )


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of an index build."""

    schema_version: int
    model: ModelInfo
    chunking: dict  # ChunkSettings.to_dict()
    fingerprint: str  # hash of every document's content hash
    created: str  # UTC, ISO 8601
    counts: dict[str, int]  # documents, chunks, sentences
    documents: dict[str, DocumentEntry]
    entities: str  # the entity tagger that found the sentences' entities
    files: dict[str, FileStamp] = field(default_factory=dict)  # corpus files by name
    # The FAISS kind of each vector file, ``chunks`` and ``sentences``: ``flat`` (exact) or ``ivf<lists>-sq8``
    vectors: dict[str, str] = field(default_factory=lambda: {"chunks": "flat", "sentences": "flat"})
    # Where the vectors and keyword index live (``qa.engines``): {"engine": "faiss"}, files of the build
    # folder, or {"engine": "milvus", "uri": ..., "collection": ...}
    store: dict[str, str] = field(default_factory=lambda: {"engine": "faiss"})
    checksums: dict[str, str] = field(default_factory=dict)  # SHA-256 of each records file, by name

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        """Raises ``KeyError``/``TypeError`` when a field is missing or of the wrong kind."""
        return cls(
            schema_version=d["schema_version"],
            model=ModelInfo(**d["model"]),
            chunking=dict(d["chunking"]),
            fingerprint=d["fingerprint"],
            created=d["created"],
            counts=dict(d["counts"]),
            documents={k: DocumentEntry(**v) for k, v in d["documents"].items()},
            entities=d["entities"],
            files={k: FileStamp.from_dict(v) for k, v in d.get("files", {}).items()},
            vectors={str(k): str(v) for k, v in d.get("vectors", {"chunks": "flat", "sentences": "flat"}).items()},
            store={str(k): str(v) for k, v in d.get("store", {"engine": "faiss"}).items()},
            checksums={str(k): str(v) for k, v in d.get("checksums", {}).items()},
        )
