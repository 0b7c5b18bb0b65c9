"""The index on disk: build (incrementally, atomically), load, check.

Layout of an index folder::

    index/
      CURRENT                 name of the live build, replaced atomically
      builds/<name>/
        manifest.json         schema, model, chunking settings, a hash per document
        documents.jsonl       Document records (text, title, date, body segments)
        chunks.jsonl          Chunk records, in FAISS row order
        chunks.faiss          normalised passage embeddings by row (inner product = cosine)
        sentences.jsonl       sentence spans, in FAISS row order
        text/<doc>.txt        the text extracted from each PDF, HTML or Word file: offsets of its
                              passages and citations point into it (the same text as in documents.jsonl)
        sentences.faiss       normalised sentence embeddings, used to pick answer sentences
        keywords/             the BM25 index of the chunks (bm25s' arrays and JSON), read, not rebuilt

``index/models/`` keeps the int8 ONNX export of the embedding model the index was built with
(``qa.onnx_models.beside``), and ``index/partial/`` a running build's vectors. The last three files
above are the FAISS store's (``qa.engines``); with ``--store milvus…`` the vectors and the
keyword index live in Milvus collections that the manifest names, and the build folder keeps
``keywords.json`` (the terms' document frequencies) instead.

A build writes a new folder next to the live one and only then points
``CURRENT`` at it, so a build killed at any moment leaves the previous index
loadable. A replaced build is deleted only once no loader can still be reading
it (``_prune``). No pickle: JSON, JSON Lines and FAISS's own format only.

Every file is checked as it is read (``qa.index_files``: types, offsets into the documents, vector
counts); one that is missing, truncated or garbled raises ``IndexDamaged``, a
single line naming the file, and ``build`` (so ``qa index`` and the app's start)
then rebuilds the index from the corpus.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from qa.chunking import ChunkSettings, chunk_document, embedding_text
from qa.engines import Contents, Engine, StoreSpec, engine_for
from qa.errors import CorpusError, IndexDamaged, IndexMismatch, IndexMissing, IndexProblem
from qa.index_files import (
    CHUNK_FIELDS,
    DOCUMENT_FIELDS,
    SCHEMA_VERSION,
    SENTENCE_FIELDS,
    current_build,
    damaged,
    problem,
    read_manifest,
    read_records,
    read_sentences,
)
from qa.partial import PartialVectors
from qa.records import Chunk, Document, DocumentEntry, Entity, FileStamp, Manifest, ModelInfo, Sentence
from qa.stages import Embedder, EntityTagger, KeywordIndex, VectorIndex
from qa.text import normalize, terms

log = logging.getLogger(__name__)

BuildProgress = Callable[[str, int, int], None]  # (stage, done, total)
T = TypeVar("T")

# A replaced build stays on disk while a loader may still be reading it: the newest KEEP_BUILDS builds
# are kept, and an older one until GRACE_SECONDS after it was replaced (a load takes about a second);
# a loader whose build vanishes anyway reads the new one, up to LOAD_ATTEMPTS times.
KEEP_BUILDS = 2
GRACE_SECONDS = 120.0
LOAD_ATTEMPTS = 3


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks embedded in this build
    resumed: int = 0  # texts (chunks and sentences) whose vectors an interrupted build had saved
    seconds: float = 0.0
    rebuilt: str = ""  # why the previous build could not be used, when it could not
    loaded: IndexData | None = field(default=None, repr=False)  # the live build, when it was up to date

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def summary(self) -> str:
        parts = [
            f"{self.chunks} chunks",
            f"{len(self.added)} added",
            f"{len(self.changed)} changed",
            f"{len(self.removed)} removed",
            f"{self.unchanged} unchanged",
            f"{self.embedded} chunks embedded in {self.seconds:.1f}s",
        ]
        if self.resumed:
            parts.append(f"{self.resumed} vectors taken from an interrupted build")
        rebuilt = f" (rebuilt from the corpus: {self.rebuilt})" if self.rebuilt else ""
        return ", ".join(parts) + rebuilt


@dataclass
class IndexData:
    """A loaded index: the records, and the stages that search them (ids are row numbers)."""

    path: Path
    manifest: Manifest
    documents: dict[str, Document]
    chunks: list[Chunk]
    chunk_index: VectorIndex
    sentences: Sequence[Sentence]  # a list, or ``LazySentences`` read line by line as they are needed
    sentence_index: VectorIndex
    keyword_index: KeywordIndex

    @property
    def fingerprint(self) -> str:
        return self.manifest.fingerprint


def corpus_fingerprint(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:16]


def check(manifest: Manifest, embedder: Embedder, settings: ChunkSettings, tagger: EntityTagger | None = None) -> None:
    """Raise ``IndexMismatch`` when the index cannot serve this embedder, chunking and tagger."""
    model = manifest.model
    if model.name != embedder.name or model.dimension != embedder.dimension:
        raise IndexMismatch(
            f"index was built with model {model.name} ({model.dimension} dims), "
            f"not {embedder.name} ({embedder.dimension}): rebuild it with `qa index --rebuild`"
        )
    if manifest.chunking != settings.to_dict():
        raise IndexMismatch("index was built with other chunking settings: rebuild it with `qa index --rebuild`")
    if tagger is not None and manifest.entities != tagger.name:
        raise IndexMismatch(
            f"index entities were found by {manifest.entities}, not {tagger.name}: rebuild it with `qa index --rebuild`"
        )


def stale_documents(manifest: Manifest, documents: Iterable[Document]) -> list[str]:
    """Documents added, changed or removed since the build."""
    built = {d: v.hash for d, v in manifest.documents.items()}
    now = {d.doc: d.content_hash for d in documents}
    return sorted(d for d in built.keys() | now.keys() if built.get(d) != now.get(d))


def load(
    index_dir: Path | str,
    embedder: Embedder,
    settings: ChunkSettings,
    tagger: EntityTagger | None = None,
    store: StoreSpec | None = None,
) -> IndexData:
    """The live build at ``index_dir``, checked against this embedder, chunking, tagger and store
    (``None``: wherever the manifest says its vectors are).

    Raises ``IndexMissing`` (nothing built), ``IndexMismatch`` (built otherwise) or ``IndexDamaged``
    (a file of the build cannot be read), each one line naming what to do. A build that another
    process replaces and deletes while it is being read is not an error: the new one is read.
    """
    index_dir = Path(index_dir)
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        build = current_build(index_dir)
        if build is None:
            raise IndexMissing(f"no index at {index_dir}: build it with `qa index`")
        try:
            return _load_build(build, embedder, settings, tagger, store)
        except IndexDamaged:
            if attempt == LOAD_ATTEMPTS or current_build(index_dir) == build:
                raise
            log.info("build %s was replaced while it was read; reading the new one", build.name)
    raise AssertionError("unreachable")


def _load_build(
    build: Path, embedder: Embedder, settings: ChunkSettings, tagger: EntityTagger | None, store: StoreSpec | None
) -> IndexData:
    manifest = read_manifest(build / "manifest.json")
    check(manifest, embedder, settings, tagger)
    if store is not None and StoreSpec.of(manifest) != store:
        raise IndexMismatch(
            f"the index keeps its vectors in {StoreSpec.of(manifest)}, not {store}: "
            f"move them with `qa index --store {store}`"
        )
    # Files whose SHA-256 is the manifest's are as the build wrote them, and not checked record by record
    # (that took most of a cold start's seconds at 100,000 passages); others, and older builds', are.
    sums = manifest.checksums
    docs, whole = read_records(build / "documents.jsonl", DOCUMENT_FIELDS, Document.from_dict, sums)
    documents = {d.doc: d for d in docs}
    if documents.keys() != manifest.documents.keys():
        raise damaged(build / "documents.jsonl", "its documents are not those of manifest.json")
    chunks, whole_chunks = read_records(build / "chunks.jsonl", CHUNK_FIELDS, Chunk.from_dict, sums)
    if not (whole and whole_chunks):
        for line, c in enumerate(chunks, 1):
            if c.doc not in documents or documents[c.doc].text[c.start : c.end] != c.text:
                raise damaged(build / "chunks.jsonl", f"line {line} is not a passage of documents.jsonl")
    sentences = read_sentences(build / "sentences.jsonl", manifest) if whole else None
    whole_sentences = sentences is not None
    if sentences is None:
        sentences, whole_sentences = read_records(build / "sentences.jsonl", SENTENCE_FIELDS, Sentence.from_dict, sums)
    if not (whole and whole_sentences):
        for line, s in enumerate(sentences, 1):
            if s.doc not in documents or not 0 <= s.start <= s.end <= len(documents[s.doc].text):
                raise damaged(build / "sentences.jsonl", f"line {line} is not a span of documents.jsonl")
    chunk_index, sentence_index, keyword_index = engine_for(StoreSpec.of(manifest)).open(
        build, manifest, chunks, sentences
    )
    return IndexData(
        path=build,
        manifest=manifest,
        documents=documents,
        chunks=chunks,
        chunk_index=chunk_index,
        sentences=sentences,
        sentence_index=sentence_index,
        keyword_index=keyword_index,
    )


def build(
    documents: list[Document],
    embedder: Embedder,
    index_dir: Path | str,
    settings: ChunkSettings,
    tagger: EntityTagger,
    progress: BuildProgress | None = None,
    rebuild: bool = False,
    files: dict[str, FileStamp] | None = None,
    previous: IndexData | None = None,
    store: StoreSpec | None = None,
    source: Path | str | None = None,
) -> BuildReport:
    """Bring the index at ``index_dir`` up to date with ``documents``.

    Unchanged documents keep their chunks, vectors and entities; only added or
    changed ones are chunked, embedded and tagged. ``rebuild`` ignores the previous index.
    ``files`` (``LoadResult.stamps``) is recorded in the manifest, so the next load need not
    read unchanged files; ``previous``, the live build already loaded, is used if it still is live.
    ``store`` says where the vectors go (``qa.engines``; FAISS files by default): a build whose
    previous one kept them elsewhere moves them there without embedding again. ``source``, another
    index folder, is where unchanged documents' chunks and vectors are taken from instead of ``index_dir``.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    store = store or StoreSpec("faiss")
    engine = engine_for(store)
    (index_dir / "builds").mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = BuildReport()
        if rebuild or previous is None or current_build(index_dir) != previous.path or source is not None:
            previous = None
        if not rebuild and previous is None:
            try:
                previous = load(source if source is not None else index_dir, embedder, settings, tagger)
            except IndexMismatch as exc:  # another model or schema, or a damaged file: embed everything again
                log.warning("rebuilding from scratch: %s", exc)
                report.rebuilt = problem(exc)
            except IndexMissing:
                if source is not None:
                    raise
        kept_docs = previous.documents if previous else {}
        names = [d.doc for d in documents]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise CorpusError(f"duplicate document ids in the corpus: {', '.join(dup[:5])}")
        now = {d.doc for d in documents}
        report.removed = sorted(set(kept_docs) - now)
        same_store = previous is not None and StoreSpec.of(previous.manifest) == store and source is None
        if (
            same_store
            and not report.removed
            and all(
                kept_docs.get(d.doc) is not None and kept_docs[d.doc].content_hash == d.content_hash for d in documents
            )
        ):  # nothing to do: not even a look at the previous build's rows
            report.unchanged, report.chunks = len(documents), len(previous.chunks)
            if files is not None and files != previous.manifest.files:
                previous = _restamp(index_dir, previous, files)
            report.seconds = time.perf_counter() - started
            report.loaded = previous
            return report

        chunks: list[Chunk] = []
        sentences: list[Sentence] = []
        chunk_from: list[int] = []  # each chunk's row in the previous build, -1 for a new one
        sentence_from: list[int] = []
        to_embed_chunks: list[tuple[int, str]] = []
        to_embed_sentences: list[tuple[int, str]] = []
        reuse = _rows_by_doc(previous) if previous else {}
        for n, doc in enumerate(documents, 1):
            old = kept_docs.get(doc.doc)
            if old is not None and old.content_hash == doc.content_hash and doc.doc in reuse:
                report.unchanged += 1
                c_rows, s_rows = reuse[doc.doc]
                chunks += [previous.chunks[r] for r in c_rows]
                chunk_from += c_rows
                sentences += [previous.sentences[r] for r in s_rows]
                sentence_from += s_rows
                continue
            (report.changed if old is not None else report.added).append(doc.doc)
            doc_chunks, doc_sents = chunk_document(doc, embedder.count_tokens, settings, embedder.max_tokens)
            for c in doc_chunks:
                to_embed_chunks.append((len(chunks), embedding_text(doc.title, c.text)))
                chunks.append(c)
                chunk_from.append(-1)
            for s in doc_sents:
                to_embed_sentences.append((len(sentences), normalize(doc.text[s.start : s.end])))
                sentences.append(s)
                sentence_from.append(-1)
            if progress:
                progress("chunking", n, len(documents))
        # Entities are found on a second thread while the model embeds: spaCy and ONNX Runtime both leave
        # Python's lock while they compute, so on 2 cores the tagging costs no wall time (it took as long as
        # a third of the build before). Only the embedding reports progress; both write their own rows.
        tagging = ThreadPoolExecutor(1, thread_name_prefix="qa-entities")
        tagged = tagging.submit(_tag, sentences, [row for row, _ in to_embed_sentences], documents, tagger)
        tagging.shutdown(wait=False)
        total = len(to_embed_chunks) + len(to_embed_sentences)
        partial = PartialVectors(index_dir / "partial", embedder)
        c_vecs = s_vecs = np.zeros((0, embedder.dimension), dtype=np.float32)
        if total:

            def step(offset: int) -> Callable[[int, int], None] | None:
                return (lambda done, _: progress("embedding", offset + done, total)) if progress else None

            c_vecs = partial.encode([t for _, t in to_embed_chunks], progress=step(0))
            s_vecs = partial.encode([t for _, t in to_embed_sentences], progress=step(len(to_embed_chunks)))
        tagged.result()
        report.embedded = len(to_embed_chunks)
        report.resumed = partial.resumed
        report.chunks = len(chunks)
        if previous is not None and StoreSpec.of(previous.manifest) != store:
            log.warning("moving the index's vectors from %s to %s", StoreSpec.of(previous.manifest), store)
        titles = {d.doc: d.title for d in documents}
        contents = Contents(
            documents=documents,
            chunks=chunks,
            chunk_vectors=_gather(
                previous.chunk_index if previous else None, chunk_from, [r for r, _ in to_embed_chunks], c_vecs
            ),
            chunk_terms=[terms(embedding_text(titles[c.doc], c.text)) for c in chunks],
            sentences=sentences,
            sentence_vectors=_gather(
                previous.sentence_index if previous else None, sentence_from, [r for r, _ in to_embed_sentences], s_vecs
            ),
        )
        storing = (lambda done, total: progress("storing", done, total)) if progress else None
        live = _live_store(index_dir)
        _write(index_dir, contents, engine, None if rebuild else live, embedder, settings, tagger, files or {}, storing)
        engine.settle(live)
        partial.clear()
        report.seconds = time.perf_counter() - started
        log.info("index %s: %s", index_dir, report.summary())
        return report


def _write(
    index_dir: Path,
    contents: Contents,
    engine: Engine,
    live: dict | None,
    embedder: Embedder,
    settings: ChunkSettings,
    tagger: EntityTagger,
    files: dict[str, FileStamp],
    progress: Callable[[int, int], None] | None,
) -> None:
    builds = index_dir / "builds"
    for leftover in builds.glob(".tmp-*"):  # from a killed build; we hold the lock
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = builds / f".tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    documents, chunks, sentences = contents.documents, contents.chunks, contents.sentences
    per_doc: dict[str, int] = {}
    for c in chunks:
        per_doc[c.doc] = per_doc.get(c.doc, 0) + 1
    per_doc_s: dict[str, int] = {}
    for s in sentences:
        per_doc_s[s.doc] = per_doc_s.get(s.doc, 0) + 1
    hashes = {d.doc: d.content_hash for d in documents}
    checksums = {
        "documents.jsonl": _write_jsonl(tmp / "documents.jsonl", (d.to_dict() for d in documents)),
        "chunks.jsonl": _write_jsonl(tmp / "chunks.jsonl", (c.to_dict() for c in chunks)),
        "sentences.jsonl": _write_jsonl(tmp / "sentences.jsonl", (s.to_dict() for s in sentences)),
    }
    for d in documents:
        if d.extracted:
            _write_text(text_file(tmp, d.doc), d.text)
    stored = engine.write(tmp, contents, live, progress)
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        model=ModelInfo(embedder.name, embedder.dimension, embedder.max_tokens),
        chunking=settings.to_dict(),
        fingerprint=corpus_fingerprint(hashes),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        counts={"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        documents={
            d.doc: DocumentEntry(d.content_hash, d.title, d.date, per_doc.get(d.doc, 0), per_doc_s.get(d.doc, 0))
            for d in documents
        },
        entities=tagger.name,
        files=files,
        vectors=stored["vectors"],
        store=stored["store"],
        checksums=checksums,
    )
    _publish(index_dir, tmp, manifest)


def _publish(index_dir: Path, tmp: Path, manifest: Manifest) -> str:
    """Write the manifest into the finished build folder ``tmp``, make it the live build, and return its name."""
    builds = index_dir / "builds"
    (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
    _fsync_dir(tmp)
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{manifest.fingerprint[:8]}-{uuid.uuid4().hex[:4]}"
    os.rename(tmp, builds / name)
    pointer_tmp = index_dir / f".CURRENT.{uuid.uuid4().hex[:8]}"
    pointer_tmp.write_text(name + "\n")
    with open(pointer_tmp) as fh:
        os.fsync(fh.fileno())
    os.replace(pointer_tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    _prune(builds, name)
    return name


def _live_store(index_dir: Path) -> dict | None:
    """The ``store`` of the live build's manifest, whatever else it holds; None when there is none."""
    try:
        build = current_build(index_dir)
        return read_manifest(build / "manifest.json").store if build is not None else None
    except IndexProblem:
        return None


def _restamp(index_dir: Path, previous: IndexData, files: dict[str, FileStamp]) -> IndexData:
    """The live build again under a new name with ``files`` in its manifest: its other files are hard
    links, so nothing is copied or embedded. Returns the same loaded data at its new path."""
    tmp = index_dir / "builds" / f".tmp-{uuid.uuid4().hex[:8]}"
    shutil.copytree(previous.path, tmp, copy_function=os.link, ignore=shutil.ignore_patterns("manifest.json"))
    manifest = replace(previous.manifest, files=files)
    name = _publish(index_dir, tmp, manifest)
    return replace(previous, path=index_dir / "builds" / name, manifest=manifest)


def _prune(builds: Path, live: str) -> None:
    """Delete the builds no loader can still be reading: those older than the newest ``KEEP_BUILDS``
    that were replaced more than ``GRACE_SECONDS`` ago. The live build is never deleted."""

    made: dict[Path, float] = {}
    for build in builds.iterdir():
        if build.is_dir() and not build.name.startswith(".tmp-"):
            try:  # the manifest is written last, just before the build goes live
                made[build] = (build / "manifest.json").stat().st_mtime
            except OSError:
                made[build] = build.stat().st_mtime
    olds = sorted(made, key=made.__getitem__, reverse=True)
    now = time.time()
    for newer, old in zip(olds[KEEP_BUILDS - 1 :], olds[KEEP_BUILDS:]):
        if old.name != live and now - made[newer] > GRACE_SECONDS:
            shutil.rmtree(old, ignore_errors=True)


def _tag(
    sentences: list[Sentence], rows: list[int], documents: list[Document], tagger: EntityTagger, batch: int = 512
) -> None:
    """Find the entities of ``sentences[rows]`` (the new ones) in place, with offsets in the document text."""
    texts = {d.doc: d.text for d in documents}
    for i in range(0, len(rows), batch):
        part = rows[i : i + batch]
        found = tagger.find([texts[sentences[r].doc][sentences[r].start : sentences[r].end] for r in part])
        for r, spans in zip(part, found):
            s = sentences[r]
            sentences[r] = replace(s, entities=tuple(Entity(s.start + a, s.start + b, label) for a, b, label in spans))


def _rows_by_doc(data: IndexData) -> dict[str, tuple[list[int], list[int]]]:
    """Each document's chunk rows and sentence rows in ``data``."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    for i, c in enumerate(data.chunks):
        out.setdefault(c.doc, ([], []))[0].append(i)
    ranges = getattr(data.sentences, "ranges", None)
    if ranges is not None:
        for doc, (lo, hi) in ranges.items():
            out.setdefault(doc, ([], []))[1].extend(range(lo, hi))
        return out
    for i, s in enumerate(data.sentences):
        out.setdefault(s.doc, ([], []))[1].append(i)
    return out


def _gather(previous: VectorIndex | None, sources: list[int], new_rows: list[int], new: np.ndarray) -> np.ndarray:
    """The vectors of a build: rows with a ``sources`` row (>= 0) read from the ``previous`` build's index
    in one call, the ``new_rows`` from ``new``."""
    out = np.empty((len(sources), new.shape[1]), dtype=np.float32)
    source = np.asarray(sources, dtype=np.int64)
    old = source >= 0
    if old.any():
        assert previous is not None
        out[old] = previous.vectors(source[old])
    if new_rows:
        out[np.asarray(new_rows, dtype=np.int64)] = new
    return out


def text_file(build: Path, doc: str) -> Path:
    """Where a build keeps the text extracted from document ``doc`` (a PDF, HTML or Word file)."""
    return build / "text" / f"{doc}.txt"


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:  # newline="": offsets count what is written
        fh.write(text)


def _write_jsonl(path: Path, records: Iterable[dict]) -> str:
    """Write ``records`` one per line; returns the file's SHA-256, which lets a load trust it unchecked."""
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for rec in records:
            line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(line)
            fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
