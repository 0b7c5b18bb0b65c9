"""The library API that the CLI, the app and the evaluator share."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa import store
from qa.answer import ExtractiveAnswerer
from qa.chunking import ChunkSettings
from qa.corpus import MAX_FILE_BYTES, check_upload, load_corpus
from qa.embed import MiniLMEmbedder
from qa.entities import SpacyTagger
from qa.errors import CorpusError, IndexStale, QuestionError, UnknownDocument, UploadError
from qa.pipeline import Pipeline, SentenceTable
from qa.query import Timeline
from qa.records import Answer, Document, Hit, Manifest, Turn
from qa.retrieve import MODES, Filter, Retriever
from qa.scoring import FeatureScorer, Weights
from qa.stages import Answerer, Embedder, EntityTagger, KeywordIndex, SentenceScorer

ScorerFactory = Callable[[KeywordIndex, Timeline, Weights], SentenceScorer]  # a scorer for one loaded index


def _verified(keywords: KeywordIndex, timeline: Timeline, weights: Weights) -> SentenceScorer:
    from qa.verified import VerifiedScorer  # loads torch models: only when asked for

    return VerifiedScorer(FeatureScorer(keywords, timeline, weights))


SCORERS: dict[str, ScorerFactory] = {"features": FeatureScorer, "verified": _verified}

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = PROJECT / "corpus"
DEFAULT_INDEX = PROJECT / "index"


@dataclass(frozen=True)
class DocumentInfo:
    doc: str
    title: str
    date: str | None
    chunks: int
    chars: int


@dataclass(frozen=True)
class _State:
    data: store.IndexData
    pipeline: Pipeline


class Assistant:
    """Answers questions over one corpus with one index.

    It is composed from the pipeline's stages (``qa/stages.py``), each with
    today's implementation as its default: the ``embedder``, the entity ``tagger``
    run at index time (``SpacyTagger``), a ``scorer`` made for
    each loaded index (``FeatureScorer``), and the ``answerer``
    (``ExtractiveAnswerer``); ``weights`` holds every tuned number of the last two.

    Loading is lazy: the first call that needs the index loads it (building or
    refreshing it when ``auto_refresh`` is set). Questions may be asked from
    several threads at once; index updates are serialised and swapped in whole.
    """

    def __init__(
        self,
        corpus: Path | str = DEFAULT_CORPUS,
        index: Path | str = DEFAULT_INDEX,
        embedder: Embedder | None = None,
        settings: ChunkSettings | None = None,
        threshold: float | None = None,
        auto_refresh: bool = True,
        max_file_bytes: int = MAX_FILE_BYTES,
        *,
        weights: Weights | None = None,
        tagger: EntityTagger | None = None,
        scorer: str | ScorerFactory = "features",
        answerer: Answerer | None = None,
    ):
        self.corpus = Path(corpus)
        self.index_dir = Path(index)
        self.embedder = embedder or MiniLMEmbedder()
        self.settings = settings or ChunkSettings()
        self.tagger = tagger or SpacyTagger()
        self.weights = weights or Weights()
        if isinstance(scorer, str) and scorer not in SCORERS:
            raise QuestionError(f"unknown scorer {scorer!r}: use one of {', '.join(SCORERS)}")
        self.scorer_factory = SCORERS[scorer] if isinstance(scorer, str) else scorer
        self.answerer = answerer or ExtractiveAnswerer(self.weights, threshold)
        self.auto_refresh = auto_refresh
        self.max_file_bytes = max_file_bytes
        self.skipped: list[tuple[str, str]] = []
        self._state: _State | None = None
        self._write_lock = threading.RLock()

    # -- index life cycle ---------------------------------------------------------------------

    def refresh(self, progress: store.BuildProgress | None = None, rebuild: bool = False) -> store.BuildReport:
        """Re-read the corpus and bring the index up to date (only changed documents are embedded)."""
        with self._write_lock:
            documents = self._load_documents()
            report = store.build(
                documents, self.embedder, self.index_dir, self.settings, self.tagger, progress, rebuild
            )
            if report.touched or rebuild or self._state is None:
                self._swap(store.load(self.index_dir, self.embedder, self.settings, self.tagger))
            return report

    def load(self, progress: store.BuildProgress | None = None) -> Assistant:
        """Make the index ready: load it, first refreshing it if it is missing or stale
        (``auto_refresh``), or raising a ``IndexProblem`` that says what to do."""
        with self._write_lock:
            if self._state is not None:
                return self
            if self.auto_refresh:
                self.refresh(progress)
            else:
                data = store.load(self.index_dir, self.embedder, self.settings, self.tagger)
                stale = store.stale_documents(data.manifest, self._load_documents())
                if stale:
                    raise IndexStale(
                        f"the corpus changed since the index was built ({len(stale)} "
                        f"documents, e.g. {stale[0]}): run `qa index`"
                    )
                self._swap(data)
            self.state.pipeline.encode("warm up")  # load the model now, not on the first question
            return self

    def _load_documents(self) -> list[Document]:
        result = load_corpus(self.corpus, self.max_file_bytes)
        self.skipped = result.skipped
        if not result.documents:
            raise CorpusError(
                f"no usable documents in {self.corpus}: add .txt or .md files "
                "(or pass --corpus with a folder or a .jsonl file)"
            )
        return result.documents

    def _swap(self, data: store.IndexData) -> None:
        timeline = Timeline.of(data.documents.values())
        dates = {d: doc.date for d, doc in data.documents.items()}
        retriever = Retriever(data.chunks, dates, data.chunk_index, data.keyword_index)
        sentences = SentenceTable(data.sentences, data.documents, data.sentence_index)
        pipeline = Pipeline(
            self.embedder,
            retriever,
            sentences,
            timeline,
            self.scorer_factory(data.keyword_index, timeline, self.weights),
            self.answerer,
            self.weights.min_words,
        )
        self._state = _State(data, pipeline)

    @property
    def state(self) -> _State:
        if self._state is None:
            self.load()
        assert self._state is not None
        return self._state

    @property
    def manifest(self) -> Manifest:
        return self.state.data.manifest

    @property
    def threshold(self) -> float:
        """The confidence below which the assistant declines."""
        override = getattr(self.answerer, "threshold", None)
        return self.state.pipeline.scorer.threshold if override is None else override

    def describe(self) -> dict:
        """The answering stages and every tuned number, as an evaluation records them in ``summary.json``."""
        return {**self.state.pipeline.scorer.describe(), **self.answerer.describe(), "threshold": self.threshold}

    # -- questions ----------------------------------------------------------------------------

    def retrieve(self, query: str, k: int = 5, mode: str = "hybrid", where: Filter | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``: the first half of ``ask``'s pipeline."""
        pipeline = self.state.pipeline
        _check(query, mode)
        return pipeline.search(pipeline.read(query), k, mode, where).hits

    def ask(
        self,
        question: str,
        history: tuple[Turn, ...] | list[Turn] = (),
        k: int = 5,
        mode: str = "hybrid",
        where: Filter | None = None,
        depth: int = 0,
    ) -> Answer:
        """Answer ``question`` from the documents, given the conversation so far.

        The answer is built from the best ``k`` passages; ``Answer.ranking`` holds the same
        search to ``max(k, depth)`` passages, for whoever wants to see past them (the evaluator).
        """
        _check(question, mode)
        return self.state.pipeline.run(question, tuple(history), k, mode, where, depth)

    # -- documents ----------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        data = self.state.data
        counts = {d: v.chunks for d, v in data.manifest.documents.items()}
        return [
            DocumentInfo(d.doc, d.title, d.date, counts.get(d.doc, 0), len(d.text))
            for d in sorted(data.documents.values(), key=lambda d: d.doc)
        ]

    def document(self, doc: str) -> Document:
        try:
            return self.state.data.documents[doc]
        except KeyError:
            raise UnknownDocument(f"no document {doc!r} in the index") from None

    def add_document(self, name: str, data: bytes, progress: store.BuildProgress | None = None) -> store.BuildReport:
        """Check an uploaded file, save it in the corpus folder and index it.

        Raises ``ValueError`` with a one-line reason (bad name, type, size or
        encoding); nothing is written then.
        """
        folder = self._corpus_folder()
        safe = _safe_name(name)
        check_upload(safe, data, self.max_file_bytes)
        target = folder / safe
        if target.resolve().parent != folder.resolve():
            raise UploadError(f"{name}: files can only be added to the corpus folder itself")
        with self._write_lock:
            tmp = folder / f".upload-{uuid.uuid4().hex[:8]}"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return self.refresh(progress)

    def remove_document(self, doc: str, progress: store.BuildProgress | None = None) -> store.BuildReport:
        folder = self._corpus_folder()
        target = (folder / doc).resolve()
        if folder.resolve() not in target.parents or not target.is_file():
            raise UploadError(f"{doc}: not a file of the corpus folder")
        with self._write_lock:
            target.unlink()
            return self.refresh(progress)

    def _corpus_folder(self) -> Path:
        if not self.corpus.is_dir():
            raise UploadError("documents can only be added to or removed from a corpus folder, not a .jsonl file")
        return self.corpus


def _check(question: str, mode: str) -> None:
    if not question.strip():
        raise QuestionError("empty question: type a question about the documents")
    if mode not in MODES:
        raise QuestionError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")


def _safe_name(name: str) -> str:
    """The bare file name of an upload; rejects path tricks instead of silently fixing them."""
    raw = name.replace("\\", "/")
    base = raw.rsplit("/", 1)[-1].strip()
    if raw != base or not base or base.startswith(".") or "\x00" in base or len(base) > 200:
        raise UploadError(f"{name!r}: give a plain file name such as notes.txt (no folders, no leading dot)")
    return base
