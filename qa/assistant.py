"""The library API that the CLI, the app and the evaluator share."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from qa import store
from qa.answer import ABSTAIN_THRESHOLD, Answerer, is_follow_up
from qa.chunking import ChunkSettings
from qa.corpus import MAX_FILE_BYTES, check_upload, load_corpus
from qa.errors import CorpusError, QuestionError, UnknownDocument, UploadError
from qa.embed import Embedder, MiniLMEmbedder
from qa.records import Answer, Document, Hit, Turn
from qa.retrieve import MODES, Filter, Retriever

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
    retriever: Retriever
    answerer: Answerer


class Assistant:
    """Answers questions over one corpus with one index.

    Loading is lazy: the first call that needs the index loads it (building or
    refreshing it when ``auto_refresh`` is set). Questions may be asked from
    several threads at once; index updates are serialised and swapped in whole.
    """

    def __init__(self, corpus: Path | str = DEFAULT_CORPUS, index: Path | str = DEFAULT_INDEX,
                 embedder: Embedder | None = None, settings: ChunkSettings | None = None,
                 threshold: float = ABSTAIN_THRESHOLD, auto_refresh: bool = True,
                 max_file_bytes: int = MAX_FILE_BYTES):
        self.corpus = Path(corpus)
        self.index_dir = Path(index)
        self.embedder = embedder or MiniLMEmbedder()
        self.settings = settings or ChunkSettings()
        self.threshold = threshold
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
            report = store.build(documents, self.embedder, self.index_dir, self.settings, progress, rebuild)
            if report.touched or rebuild or self._state is None:
                self._swap(store.load(self.index_dir, self.embedder, self.settings))
            return report

    def load(self, progress: store.BuildProgress | None = None) -> Assistant:
        """Make the index ready: load it, first refreshing it if it is missing or stale
        (``auto_refresh``), or raising a ``store.IndexProblem`` that says what to do."""
        with self._write_lock:
            if self._state is not None:
                return self
            if self.auto_refresh:
                self.refresh(progress)
            else:
                data = store.load(self.index_dir, self.embedder, self.settings)
                stale = store.stale_documents(data.manifest, self._load_documents())
                if stale:
                    raise store.IndexStale(f"the corpus changed since the index was built ({len(stale)} "
                                           f"documents, e.g. {stale[0]}): run `qa index`")
                self._swap(data)
            self.state.retriever.encode_query("warm up")  # load the model now, not on the first question
            return self

    def _load_documents(self) -> list[Document]:
        result = load_corpus(self.corpus, self.max_file_bytes)
        self.skipped = result.skipped
        if not result.documents:
            raise CorpusError(f"no usable documents in {self.corpus}: add .txt or .md files "
                              "(or pass --corpus with a folder or a .jsonl file)")
        return result.documents

    def _swap(self, data: store.IndexData) -> None:
        retriever = Retriever(data, self.embedder)
        self._state = _State(data, retriever, Answerer(retriever, self.threshold))

    @property
    def state(self) -> _State:
        if self._state is None:
            self.load()
        assert self._state is not None
        return self._state

    def describe(self) -> dict:
        """The answering settings, as an evaluation records them in its ``summary.json``."""
        return {"threshold": self.threshold}

    # -- questions ----------------------------------------------------------------------------

    def retrieve(self, query: str, k: int = 5, mode: str = "hybrid", where: Filter | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``."""
        return self.state.retriever.search(query, k, mode, where)

    def ask(self, question: str, history: tuple[Turn, ...] | list[Turn] = (), k: int = 5,
            mode: str = "hybrid", where: Filter | None = None, depth: int = 0) -> Answer:
        """Answer ``question`` from the documents, given the conversation so far.

        The answer is built from the best ``k`` passages; ``Answer.ranking`` holds the same
        search to ``max(k, depth)`` passages, for whoever wants to see past them (the evaluator).
        """
        started = time.perf_counter()
        question = " ".join(question.split())
        if not question:
            raise QuestionError("empty question: type a question about the documents")
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        state = self.state
        history = tuple(history)
        query = self.search_query(question, history)
        qvec = state.retriever.encode_query(query)
        ranking = state.retriever.search(query, max(k, depth, 1), mode, where,
                                         query_vector=qvec if mode != "keyword" else None)
        hits = ranking[:max(k, 1)]
        also = None
        if where is None and state.answerer.asks_about_now(question):
            # Sources disagree over time (who holds an office): let the newest articles have their say.
            newest = Filter(docs=state.answerer.newest_docs)
            also = state.retriever.search(query, 2, mode, newest, query_vector=qvec if mode != "keyword" else None)
        answer = state.answerer.answer(question, hits, qvec, history, also)
        latency = (time.perf_counter() - started) * 1000
        return replace(answer, latency_ms=latency, ranking=tuple(ranking))

    @staticmethod
    def search_query(question: str, history: tuple[Turn, ...] | list[Turn] = ()) -> str:
        """What ``ask`` searches with: a follow-up question carries the previous question along."""
        question = " ".join(question.split())
        if history and is_follow_up(question):
            return f"{question} {history[-1].question}"
        return question

    # -- documents ----------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        data = self.state.data
        counts = {d: v["chunks"] for d, v in data.manifest["documents"].items()}
        return [DocumentInfo(d.doc, d.title, d.date, counts.get(d.doc, 0), len(d.text))
                for d in sorted(data.documents.values(), key=lambda d: d.doc)]

    def document(self, doc: str) -> Document:
        try:
            return self.state.data.documents[doc]
        except KeyError:
            raise UnknownDocument(f"no document {doc!r} in the index") from None

    def add_document(self, name: str, data: bytes,
                     progress: store.BuildProgress | None = None) -> store.BuildReport:
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


def _safe_name(name: str) -> str:
    """The bare file name of an upload; rejects path tricks instead of silently fixing them."""
    raw = name.replace("\\", "/")
    base = raw.rsplit("/", 1)[-1].strip()
    if raw != base or not base or base.startswith(".") or "\x00" in base or len(base) > 200:
        raise UploadError(f"{name!r}: give a plain file name such as notes.txt (no folders, no leading dot)")
    return base

