"""The library API that the CLI, the app and the evaluator share."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa import store
from qa.answer import ExtractiveAnswerer
from qa.chunking import ChunkSettings
from qa.corpus import EXTRACTED_SIZE_FACTOR, MAX_FILE_BYTES, Known, LoadResult, load_corpus
from qa.documents import DocumentExists, DocumentFolder, TrashItem, Undo, shown_name
from qa.embed import MiniLMEmbedder
from qa.engines import StoreSpec
from qa.entities import SpacyTagger
from qa.errors import (
    CorpusError,
    IndexMismatch,
    IndexMissing,
    IndexStale,
    QuestionError,
    UnknownDocument,
    UploadError,
)
from qa.language import unsupported_language
from qa.pipeline import Pipeline, SentenceTable
from qa.query import Timeline
from qa.records import Answer, Document, Filter, Hit, Manifest, Turn
from qa.retrieve import MODES, Retriever
from qa.scoring import FeatureScorer, Weights
from qa.stages import Answerer, Embedder, EntityTagger, KeywordIndex, SentenceScorer

ScorerFactory = Callable[[KeywordIndex, Timeline, Weights], SentenceScorer]  # a scorer for one loaded index


def _features(keywords: KeywordIndex, timeline: Timeline, weights: Weights) -> SentenceScorer:
    from qa.verified import PhraseMarker

    return PhraseMarker(FeatureScorer(keywords, timeline, weights))


def _verified(keywords: KeywordIndex, timeline: Timeline, weights: Weights) -> SentenceScorer:
    from qa.verified import PhraseMarker, VerifiedScorer

    return PhraseMarker(VerifiedScorer(FeatureScorer(keywords, timeline, weights)))


# Both mark their short answer with the reader's span head (qa.verified.PhraseMarker).
SCORERS: dict[str, ScorerFactory] = {"features": _features, "verified": _verified}

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
    removable: bool = False  # a file of its own in the corpus folder (a record of a .jsonl file is not)


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
    ``store`` (``qa.engines``) says where the vectors and keyword index live: FAISS files
    in the index folder, or Milvus (``milvus-lite:PATH``, ``milvus://HOST:PORT``).

    Loading is lazy: the first call that needs the index loads it (building or
    refreshing it when ``auto_refresh`` is set). Questions may be asked from
    several threads at once; index updates are serialised and swapped in whole,
    so a question asked during an update is answered from the index before it,
    without waiting. Removed and replaced files go to ``trash`` (by default a
    ``trash`` folder inside the index folder), from which ``restore`` brings them back.
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
        trash: Path | str | None = None,
        weights: Weights | None = None,
        tagger: EntityTagger | None = None,
        scorer: str | ScorerFactory = "features",
        answerer: Answerer | None = None,
        store: StoreSpec | str = "faiss",
    ):
        self.corpus = Path(corpus)
        self.index_dir = Path(index)
        self.store = StoreSpec.parse(store)
        self.embedder = embedder or MiniLMEmbedder(keep_export=self.index_dir / "models")
        self.settings = settings or ChunkSettings()
        self.tagger = tagger or SpacyTagger()
        self.weights = weights or Weights()
        if isinstance(scorer, str) and scorer not in SCORERS:
            raise QuestionError(f"unknown scorer {scorer!r}: use one of {', '.join(SCORERS)}")
        self.scorer_factory = SCORERS[scorer] if isinstance(scorer, str) else scorer
        self.answerer = answerer or ExtractiveAnswerer(self.weights, threshold)
        self.auto_refresh = auto_refresh
        self.max_file_bytes = max_file_bytes
        self.trash_dir = Path(trash) if trash is not None else self.index_dir / "trash"
        self.skipped: list[tuple[str, str]] = []
        self._state: _State | None = None
        self._write_lock = threading.RLock()

    # -- index life cycle ---------------------------------------------------------------------

    def refresh(
        self, progress: store.BuildProgress | None = None, rebuild: bool = False, source: Path | str | None = None
    ) -> store.BuildReport:
        """Re-read the corpus and bring the index up to date (only changed documents are embedded;
        files unchanged since the build are not read or cleaned again). Vectors kept in another store
        than this assistant's, or in the index folder ``source``, are moved, not embedded again."""
        with self._write_lock:
            previous = None if rebuild or source is not None else self._live_or_none()
            result = self._load_documents(previous)
            report = store.build(
                result.documents,
                self.embedder,
                self.index_dir,
                self.settings,
                self.tagger,
                progress,
                rebuild,
                files=result.stamps,
                previous=previous,
                store=self.store,
                source=source,
            )
            if report.touched or rebuild or self._state is None or report.loaded is not previous:
                data = report.loaded or store.load(
                    self.index_dir, self.embedder, self.settings, self.tagger, self.store
                )
                self._swap(data)
            return report

    def _live_or_none(self) -> store.IndexData | None:
        """The loaded build, or the one on disk, or None when there is none that this assistant can use."""
        if self._state is not None:
            return self._state.data
        try:
            return store.load(self.index_dir, self.embedder, self.settings, self.tagger)
        except (IndexMissing, IndexMismatch):
            return None

    def load(self, progress: store.BuildProgress | None = None) -> Assistant:
        """Make the index ready: load it, first refreshing it if it is missing or stale
        (``auto_refresh``), or raising a ``IndexProblem`` that says what to do."""
        if self._state is not None:  # questions never wait for the lock an update holds
            return self
        with self._write_lock:
            if self._state is not None:
                return self
            if self.auto_refresh:
                self.refresh(progress)
            else:
                data = store.load(self.index_dir, self.embedder, self.settings, self.tagger, self.store)
                stale = store.stale_documents(data.manifest, self._load_documents(data).documents)
                if stale:
                    raise IndexStale(
                        f"the corpus changed since the index was built ({len(stale)} "
                        f"documents, e.g. {stale[0]}): run `qa index`"
                    )
                self._swap(data)
            self.state.pipeline.encode("warm up")  # load the model now, not on the first question
            return self

    def _load_documents(self, index: store.IndexData | None = None) -> LoadResult:
        known = Known(index.manifest.files, index.documents) if index is not None else None
        result = load_corpus(self.corpus, self.max_file_bytes, known)
        self.skipped = result.skipped
        if not result.documents:
            raise CorpusError(
                f"no usable documents in {self.corpus}: add articles (.txt, .md, .pdf, .html, .docx) "
                "(or pass --corpus with a folder or a .jsonl file)"
            )
        log.info("corpus: %d documents, %d files cleaned", len(result.documents), result.cleaned)
        return result

    def _swap(self, data: store.IndexData) -> None:
        timeline = Timeline(data.documents)
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
        """The documents the index holds now, by id, each saying whether ``remove_document`` can take it."""
        data = self.state.data
        counts = {d: v.chunks for d, v in data.manifest.documents.items()}
        files = self._files
        return [
            DocumentInfo(d.doc, d.title, d.date, counts.get(d.doc, 0), len(d.text), files.file_of(d.doc) is not None)
            for d in sorted(data.documents.values(), key=lambda d: d.doc)
        ]

    def document(self, doc: str) -> Document:
        try:
            return self.state.data.documents[doc]
        except KeyError:
            raise UnknownDocument(f"{shown_name(doc)}: no such document in the collection") from None

    @property
    def max_upload_bytes(self) -> int:
        """The largest file an upload may be (a PDF or Word file; a text file must stay under ``max_file_bytes``)."""
        return self.max_file_bytes * EXTRACTED_SIZE_FACTOR

    def text_source(self, doc: str) -> str:
        """The text that offsets into document ``doc`` count in: its file in the corpus folder, the record of a
        ``.jsonl`` corpus, or for a PDF, HTML or Word file the text extracted from it, stored with the build."""
        document = self.document(doc)
        if document.extracted:
            return str(store.text_file(self.state.data.path, doc))
        if self.corpus.is_dir():
            return str(self.corpus / doc)
        return f'{self.corpus}: the "text" of record {doc!r}'

    def original_file(self, doc: str) -> Path | None:
        """The corpus folder's file that document ``doc`` was read from (what a download serves); None for a
        record of a ``.jsonl`` file or a document no longer in the collection."""
        if doc not in self.state.data.documents or not self.corpus.is_dir():
            return None
        return self._files.file_of(doc)

    def add_document(
        self, name: str, data: bytes, replace: bool = False, progress: store.BuildProgress | None = None
    ) -> store.BuildReport:
        """Check an uploaded file (.txt, .md, .pdf, .html, .htm or .docx), save it in the corpus folder and index it.

        An ``UploadError`` gives a one-line reason (bad name, type, size or encoding, or a PDF,
        page or Word file that cannot be read) and nothing is written. A file of the same name
        already in the collection raises ``DocumentExists`` unless ``replace``; replaced, it goes to
        the trash. When indexing fails the upload is undone: the new file is
        deleted and the one it replaced put back.
        """
        folder = self._folder()
        target = folder.upload_target(name, data)
        with self._write_lock:
            undo: list[Undo] = []
            if target.exists() and target.read_bytes() != data:
                if not replace:
                    raise DocumentExists(
                        f"{shown_name(target.name)}: a file of that name is already in the collection; "
                        "replace it to use the new one (the current one goes to the trash)"
                    )
                undo.append(folder.trash(target, self._title(target.name))[1])
            if not target.exists():
                undo.append(folder.write(target, data))
            return self._refresh_or_undo(undo, progress)

    def remove_document(self, doc: str, progress: store.BuildProgress | None = None) -> store.BuildReport:
        """Move a document's file from the corpus folder to the trash and drop it from the index.

        Only a document that is a file of its own can be removed: a record of a
        ``.jsonl`` file raises ``UploadError`` and nothing changes.
        """
        folder = self._folder()
        with self._write_lock:
            path = folder.file_of(doc)
            if path is None:
                if doc in self.state.data.documents:
                    raise UploadError(
                        f"{shown_name(doc)}: a record of a .jsonl file, not a file of its own; "
                        "edit that .jsonl file to remove it"
                    )
                raise UnknownDocument(f"{shown_name(doc)}: no such document in the collection")
            return self._refresh_or_undo([folder.trash(path, self._title(doc))[1]], progress)

    def trashed(self) -> list[TrashItem]:
        """Files removed or replaced, most recent first; ``restore`` takes an item's ``id``."""
        return self._files.trashed()

    def restore(self, trash_id: str, progress: store.BuildProgress | None = None) -> store.BuildReport:
        """Put a trashed file back in the corpus folder and index it again."""
        folder = self._folder()
        with self._write_lock:
            return self._refresh_or_undo([folder.restore(trash_id)[1]], progress)

    def _refresh_or_undo(self, undo: list[Undo], progress: store.BuildProgress | None) -> store.BuildReport:
        """Index the files as they now are; if that fails, undo the changes (last first) and re-raise."""
        try:
            return self.refresh(progress)
        except BaseException:
            for step in reversed(undo):
                try:
                    step()
                except OSError:
                    log.exception("could not undo a change to %s", self.corpus)
            raise

    def _title(self, doc: str) -> str:
        found = self._state.data.documents.get(doc) if self._state is not None else None
        return found.title if found is not None else Path(doc).stem

    @property
    def _files(self) -> DocumentFolder:
        return DocumentFolder(self.corpus, self.trash_dir, self.max_file_bytes)

    def _folder(self) -> DocumentFolder:
        """The corpus folder's files, for a change to them (a .jsonl corpus cannot be changed here)."""
        if not self.corpus.is_dir():
            raise UploadError("documents can only be added to or removed from a corpus folder, not a .jsonl file")
        return self._files


def _check(question: str, mode: str) -> None:
    if not question.strip():
        raise QuestionError("empty question: type a question about the documents")
    unreadable = unsupported_language(question)
    if unreadable:
        raise QuestionError(unreadable)
    if mode not in MODES:
        raise QuestionError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
