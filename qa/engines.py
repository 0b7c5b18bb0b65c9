"""Where a build's vectors and keyword index live, chosen with ``--store`` (``QA_STORE``):

    faiss                  (default) FAISS and bm25s files in the build folder, memory-mapped
    milvus-lite:PATH       Milvus Lite inside this process, its data in the file PATH
    milvus://HOST:PORT     a Milvus standalone server or cluster (the same code)

Either way the manifest and the records (documents, chunks, sentences) stay in
the build folder of ``--index``; the manifest's ``store`` says where the rest
is. An ``Engine`` writes a build's vectors and keyword index (``write``), opens
them for search as the pipeline's ``VectorIndex`` and ``KeywordIndex`` stages
(``open``), and drops what no build needs once a new one is live (``settle``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.bm25_index import BM25Index
from qa.errors import UserError
from qa.faiss_index import FaissIndex
from qa.index_files import read_keywords, read_vectors
from qa.records import Chunk, Document, Manifest, Sentence
from qa.stages import KeywordIndex, VectorIndex

StoreProgress = Callable[[int, int], None]  # (rows stored, rows to store)


@dataclass(frozen=True)
class StoreSpec:
    """Which engine, and for Milvus where: an absolute file path (Milvus Lite) or ``http://HOST:PORT``."""

    engine: str  # "faiss" or "milvus"
    uri: str = ""

    @classmethod
    def parse(cls, text: str | StoreSpec | None) -> StoreSpec:
        """``faiss``, ``milvus-lite:PATH`` or ``milvus://HOST:PORT``; ``UserError`` (one line) otherwise."""
        if isinstance(text, StoreSpec):
            return text
        text = (text or "faiss").strip()
        if text == "faiss":
            return cls("faiss")
        if text.startswith("milvus-lite:") and text.removeprefix("milvus-lite:").strip():
            path = Path(os.path.expanduser(text.removeprefix("milvus-lite:").strip())).absolute()
            return cls("milvus", str(path))
        if text.startswith("milvus://") and text.removeprefix("milvus://").strip("/"):
            return cls("milvus", "http://" + text.removeprefix("milvus://").strip("/"))
        raise UserError(f"unknown store {text!r}: use faiss, milvus-lite:PATH or milvus://HOST:PORT")

    @classmethod
    def of(cls, manifest: Manifest) -> StoreSpec:
        return cls.of_store(manifest.store)

    @classmethod
    def of_store(cls, record: dict) -> StoreSpec:
        """The spec of a manifest's ``store`` record."""
        return cls(record.get("engine", "faiss"), record.get("uri", ""))

    @property
    def lite(self) -> bool:
        return self.engine == "milvus" and not self.uri.startswith(("http://", "https://"))

    def __str__(self) -> str:
        if self.engine == "faiss":
            return "faiss"
        return f"milvus-lite:{self.uri}" if self.lite else "milvus://" + self.uri.split("://", 1)[1]


@dataclass(frozen=True)
class Contents:
    """What a build stores besides its records: the vectors (rows in record order) and keyword terms."""

    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    chunk_vectors: np.ndarray
    chunk_terms: Sequence[Sequence[str]]  # the keyword terms of each chunk (title included)
    sentences: Sequence[Sentence]
    sentence_vectors: np.ndarray


class Engine(Protocol):
    spec: StoreSpec

    def write(
        self, folder: Path, contents: Contents, previous: dict | None, progress: StoreProgress | None = None
    ) -> dict:
        """Store ``contents`` for the build being written in ``folder``; ``previous`` is the live build's
        manifest ``store`` when its rows may be kept (not on a rebuild). Returns the manifest fields to
        record (``store``, ``vectors``)."""
        ...

    def open(
        self, folder: Path, manifest: Manifest, chunks: Sequence[Chunk], sentences: Sequence[Sentence]
    ) -> tuple[VectorIndex, VectorIndex, KeywordIndex]:
        """The chunk vectors, sentence vectors and chunk keyword index of the build in ``folder``
        (``IndexDamaged`` naming what is missing)."""
        ...

    def settle(self, replaced: dict | None) -> None:
        """After the build ``write`` stored went live: drop what no build needs any more; ``replaced`` is
        the manifest ``store`` of the build it replaced."""
        ...


class FaissEngine:
    """Files of the build folder: ``chunks.faiss``, ``sentences.faiss`` (``qa.faiss_index``) and
    ``keywords/`` (``qa.bm25_index``)."""

    spec = StoreSpec("faiss")

    def write(
        self, folder: Path, contents: Contents, previous: dict | None, progress: StoreProgress | None = None
    ) -> dict:
        kinds = {}
        for name, vectors in (("chunks", contents.chunk_vectors), ("sentences", contents.sentence_vectors)):
            index = FaissIndex.for_vectors(vectors)
            index.save(folder / f"{name}.faiss")
            kinds[name] = index.kind
        BM25Index(contents.chunk_terms).save(folder / "keywords")
        return {"store": {"engine": "faiss"}, "vectors": kinds}

    def open(
        self, folder: Path, manifest: Manifest, chunks: Sequence[Chunk], sentences: Sequence[Sentence]
    ) -> tuple[VectorIndex, VectorIndex, KeywordIndex]:
        dimension, kinds = manifest.model.dimension, manifest.vectors
        return (
            read_vectors(folder / "chunks.faiss", len(chunks), dimension, kinds.get("chunks", "flat")),
            read_vectors(folder / "sentences.faiss", len(sentences), dimension, kinds.get("sentences", "flat")),
            read_keywords(folder / "keywords", len(chunks)),
        )

    def settle(self, replaced: dict | None) -> None:
        """Nothing: a replaced build's files go with its folder."""


def engine_for(spec: StoreSpec | str) -> Engine:
    spec = StoreSpec.parse(spec)
    if spec.engine == "faiss":
        return FaissEngine()
    from qa.milvus_index import MilvusEngine  # pymilvus takes a second to import; only Milvus stores need it

    return MilvusEngine(spec)
