"""The vector and keyword indexes in Milvus: Milvus Lite in this process, or a Milvus server or cluster.

The only module that touches pymilvus. An index keeps two collections,
``<name>_chunks`` (vector, keyword terms with Milvus's own BM25 function,
document and date) and ``<name>_sentences`` (vector), where ``<name>`` is the
manifest's ``store.collection``. Rows are keyed by a stable 63-bit id made from
the document's content hash and the span (``row_keys``), so a build upserts only
the rows of added or changed documents and deletes, once it is live, the rows no
build names. A build interrupted while storing leaves the collection queryable
and the live manifest names the last complete build; the next build stores only
what is still missing.

Search results come back as row numbers of the build's records, as from FAISS:
each open index maps its build's keys to rows, and a key the build does not
name (a row an unfinished build stored) is left out. Document and date filters
become Milvus filter expressions (``filter_expression``). Keyword terms are
those of ``qa.text.terms`` joined by spaces, so Milvus's BM25 scores the same
words bm25s does, with the same ``k1`` and ``b``; the document frequencies that
the answer scorers read as ``idf`` are kept in the build folder
(``keywords.json``), as bm25s' are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

from qa.bm25_index import Frequencies
from qa.engines import Contents, StoreProgress, StoreSpec
from qa.errors import IndexDamaged, UserError
from qa.index_files import REPAIR, damaged
from qa.records import Chunk, Filter, Manifest, Sentence

log = logging.getLogger(__name__)

FREQUENCIES = "keywords.json"  # rows and per-term document frequencies of the build's chunks
BM25_K1, BM25_B = 1.5, 0.75  # bm25s' defaults, so both engines score alike
BATCH = 1000  # rows per insert, and keys per query
MAX_VARCHAR = 65_535

_clients: dict[str, MilvusClient] = {}
_clients_lock = threading.Lock()


def client_for(spec: StoreSpec) -> MilvusClient:
    """One client per Milvus per process (Milvus Lite opens its file once)."""
    with _clients_lock:
        if spec.uri not in _clients:
            if spec.lite:
                Path(spec.uri).parent.mkdir(parents=True, exist_ok=True)
                # Milvus Lite serves gRPC in this process and logs a traceback for each call it does not
                # implement (a timestamp request on every create_collection); the client's errors still raise.
                logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
            try:
                _clients[spec.uri] = MilvusClient(spec.uri)
            except MilvusException as exc:
                raise UserError(f"cannot open Milvus at {spec}: {exc.message}") from None
        return _clients[spec.uri]


def close_clients() -> None:
    """Close every client this process opened (Milvus Lite then lets go of its files)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def row_keys(rows: Sequence[Chunk] | Sequence[Sentence], hashes: dict[str, str]) -> np.ndarray:
    """A stable id for each chunk or sentence: its document's content hash and its span, hashed to 63 bits."""
    keys = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        digest = hashlib.blake2b(f"{r.doc}\0{hashes[r.doc]}\0{r.start}\0{r.end}".encode(), digest_size=8).digest()
        keys[i] = int.from_bytes(digest, "big") >> 1
    return keys


class _Rows:
    """The keys of a build's rows, and back from keys to rows."""

    def __init__(self, keys: np.ndarray):
        self.keys = keys
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def rows(self, keys: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``keys``, and which of ``keys`` the build has."""
        keys = np.asarray(keys, dtype=np.int64)
        at = np.searchsorted(self._sorted, keys).clip(0, max(len(self._sorted) - 1, 0))
        found = (self._sorted[at] == keys) if len(self._sorted) else np.zeros(len(keys), dtype=bool)
        return self._order[at][found], found


def filter_expression(where: Filter) -> str:
    """``where`` as a Milvus boolean expression over the ``doc`` and ``date`` fields ("" allows everything).

    ``Filter.allows`` compares a date's prefix as long as the bound: a date is at or after ``date_from``
    exactly when it sorts at or after it, and at or before ``date_to`` when it sorts before it or starts
    with it."""
    parts = []
    if where.docs is not None:
        parts.append(f"doc in [{', '.join(json.dumps(d, ensure_ascii=False) for d in sorted(where.docs))}]")
    if where.date_from or where.date_to:
        parts.append('date != ""')
    if where.date_from:
        parts.append(f"date >= {json.dumps(where.date_from)}")
    if where.date_to:
        to, prefix = json.dumps(where.date_to), _like_prefix(where.date_to)
        parts.append(f"(date <= {to} or date like {json.dumps(prefix)})")
    return " and ".join(parts)


def _like_prefix(text: str) -> str:
    """A Milvus ``like`` pattern matching strings that start with ``text``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _expression(where: Filter | None, allowed: np.ndarray | None, rows: _Rows) -> str:
    if where is not None and where.active:
        return filter_expression(where)
    if allowed is not None:  # ids without the filter that chose them: a key list
        return f"id in [{', '.join(str(int(k)) for k in rows.keys[np.asarray(allowed, dtype=np.int64)])}]"
    return ""


class MilvusVectors:
    """``VectorIndex`` over the ``vector`` field of a collection."""

    def __init__(self, client: MilvusClient, collection: str, keys: np.ndarray, dimension: int):
        self.client, self.collection, self.dimension = client, collection, dimension
        self._rows = _Rows(keys)

    def __len__(self) -> int:
        return len(self._rows.keys)

    def search(
        self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, where: Filter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0 or (allowed_ids is not None and not len(allowed_ids)):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        found = self.client.search(
            self.collection,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=k,
            filter=_expression(where, allowed_ids, self._rows),
            output_fields=[],
            search_params={"metric_type": "IP"},
        )[0]
        return _hits(found, self._rows)

    def similarity(self, vector: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        return self.vectors(ids) @ np.asarray(vector, dtype=np.float32)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        keys = self._rows.keys[np.asarray(ids, dtype=np.int64)]
        got: dict[int, list[float]] = {}
        for start in range(0, len(keys), BATCH):
            part = [int(k) for k in keys[start : start + BATCH]]
            for rec in self.client.query(self.collection, ids=part, output_fields=["vector"]):
                got[int(rec["id"])] = rec["vector"]
        missing = [int(k) for k in keys if int(k) not in got]
        if missing:
            raise IndexDamaged(f"Milvus collection {self.collection} lacks {len(missing)} rows of the build: {REPAIR}")
        return np.array([got[int(k)] for k in keys], dtype=np.float32).reshape(len(keys), self.dimension)


class MilvusKeywords:
    """``KeywordIndex`` over the BM25 ``sparse`` field Milvus computes from each chunk's terms."""

    def __init__(self, client: MilvusClient, collection: str, keys: np.ndarray, frequencies: Frequencies):
        self.client, self.collection = client, collection
        self._rows = _Rows(keys)
        self._frequencies = frequencies

    def __len__(self) -> int:
        return len(self._rows.keys)

    def search(
        self, query_terms: Sequence[str], k: int, allowed_ids: np.ndarray | None = None, where: Filter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0 or not query_terms or (allowed_ids is not None and not len(allowed_ids)):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self._search(query_terms, k, _expression(where, allowed_ids, self._rows))

    def scores_of(self, query_terms: Sequence[str], ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        if not len(ids) or not query_terms:
            return out
        keys = self._rows.keys[ids]
        rows, scores = self._search(query_terms, len(ids), f"id in [{', '.join(str(int(k)) for k in keys)}]")
        position = {int(r): i for i, r in enumerate(ids)}
        for r, s in zip(rows, scores):
            out[position[int(r)]] = s
        return out

    def idf(self, term: str) -> float:
        return self._frequencies.idf(term)

    def _search(self, query_terms: Sequence[str], k: int, expression: str) -> tuple[np.ndarray, np.ndarray]:
        found = self.client.search(
            self.collection,
            data=[" ".join(query_terms)],
            anns_field="sparse",
            limit=k,
            filter=expression,
            output_fields=[],
            search_params={"metric_type": "BM25"},
        )[0]
        # Milvus Lite 3.2 reports BM25 scores negated, and with Lucene's old (k1 + 1) factor that bm25s drops
        return _hits(found, self._rows, score=lambda d: abs(d) / (1 + BM25_K1))


def _hits(found: Iterable[dict], rows: _Rows, score=float) -> tuple[np.ndarray, np.ndarray]:
    found = list(found)
    keys = np.array([h["id"] for h in found], dtype=np.int64)
    scores = np.array([score(h["distance"]) for h in found], dtype=np.float32)
    at, known = rows.rows(keys)
    return at.astype(np.int64), scores[known]


class MilvusEngine:
    """``Engine`` over one Milvus (Lite or server)."""

    def __init__(self, spec: StoreSpec):
        self.spec = spec
        self._written: tuple[str, np.ndarray, np.ndarray] | None = None

    @property
    def client(self) -> MilvusClient:
        return client_for(self.spec)

    # -- writing ----------------------------------------------------------------------------

    def write(
        self, folder: Path, contents: Contents, previous: dict | None, progress: StoreProgress | None = None
    ) -> dict:
        same = previous is not None and StoreSpec.of_store(previous) == self.spec and previous.get("collection")
        name = previous["collection"] if same else f"qa_{uuid.uuid4().hex[:12]}"
        dimension = contents.chunk_vectors.shape[1] if contents.chunk_vectors.ndim == 2 else 0
        self._ensure(name, dimension)
        hashes = {d.doc: d.content_hash for d in contents.documents}
        dates = {d.doc: d.date or "" for d in contents.documents}
        chunk_keys = row_keys(contents.chunks, hashes)
        sentence_keys = row_keys(contents.sentences, hashes)
        new_chunks = self._absent(f"{name}_chunks", chunk_keys)
        new_sentences = self._absent(f"{name}_sentences", sentence_keys)
        total, done = len(new_chunks) + len(new_sentences), 0

        def chunk_row(i: int) -> dict:
            c = contents.chunks[i]
            text = " ".join(contents.chunk_terms[i]).encode()[: MAX_VARCHAR - 1].decode(errors="ignore")
            return {
                "id": int(chunk_keys[i]),
                "vector": contents.chunk_vectors[i].tolist(),
                "terms": text,
                "doc": c.doc,
                "date": dates[c.doc],
            }

        def sentence_row(i: int) -> dict:
            return {"id": int(sentence_keys[i]), "vector": contents.sentence_vectors[i].tolist()}

        for collection, rows, make in (
            (f"{name}_chunks", new_chunks, chunk_row),
            (f"{name}_sentences", new_sentences, sentence_row),
        ):
            for start in range(0, len(rows), BATCH):
                part = rows[start : start + BATCH]
                self.client.upsert(collection, [make(int(i)) for i in part])
                done += len(part)
                if progress:
                    progress(done, total)
            self.client.flush(collection)
            self.client.load_collection(collection)
        Frequencies.of(contents.chunk_terms).save(folder / FREQUENCIES)
        self._written = (name, chunk_keys, sentence_keys)
        log.info("milvus %s: %d chunks and %d sentences stored", name, len(new_chunks), len(new_sentences))
        return {"store": {"engine": "milvus", "uri": self.spec.uri, "collection": name}, "vectors": {}}

    def settle(self, replaced: dict | None) -> None:
        """Delete the rows of the collections that the live build does not name, and the collections of
        the ``replaced`` build when it kept its rows in others of this Milvus (before a ``--rebuild``)."""
        if self._written is None:
            return
        name, chunk_keys, sentence_keys = self._written
        if replaced and StoreSpec.of_store(replaced) == self.spec and replaced.get("collection") not in (None, name):
            for part in ("chunks", "sentences"):
                self.client.drop_collection(f"{replaced['collection']}_{part}")
        for collection, keys in ((f"{name}_chunks", chunk_keys), (f"{name}_sentences", sentence_keys)):
            live = set(int(k) for k in keys)
            stale = [k for k in self._all_keys(collection) if k not in live]
            for start in range(0, len(stale), BATCH):
                self.client.delete(collection, ids=stale[start : start + BATCH])
            if stale:
                self.client.flush(collection)
                log.info("milvus %s: %d rows no build names deleted", collection, len(stale))

    def _ensure(self, name: str, dimension: int) -> None:
        client = self.client
        if not client.has_collection(f"{name}_chunks"):
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field(
                "terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"},
            )  # fmt: skip
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("doc", DataType.VARCHAR, max_length=4096)
            schema.add_field("date", DataType.VARCHAR, max_length=64)
            schema.add_function(
                Function(
                    name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                    output_field_names=["sparse"],
                )
            )  # fmt: skip
            params = client.prepare_index_params()
            params.add_index("vector", index_type=self._vector_index, metric_type="IP")
            params.add_index(
                "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                params={"bm25_k1": BM25_K1, "bm25_b": BM25_B},
            )  # fmt: skip
            client.create_collection(f"{name}_chunks", schema=schema, index_params=params)
        if not client.has_collection(f"{name}_sentences"):
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            params = client.prepare_index_params()
            params.add_index("vector", index_type=self._vector_index, metric_type="IP")
            client.create_collection(f"{name}_sentences", schema=schema, index_params=params)

    @property
    def _vector_index(self) -> str:
        """Exact search in Milvus Lite (as the FAISS store up to its flat limit); the server picks its own."""
        return "FLAT" if self.spec.lite else "AUTOINDEX"

    def _absent(self, collection: str, keys: np.ndarray) -> np.ndarray:
        """Positions of ``keys`` not yet stored (an interrupted build, or unchanged documents, stored them)."""
        present: set[int] = set()
        for start in range(0, len(keys), BATCH):
            part = [int(k) for k in keys[start : start + BATCH]]
            present.update(int(r["id"]) for r in self.client.query(collection, ids=part, output_fields=["id"]))
        return np.array([i for i, k in enumerate(keys) if int(k) not in present], dtype=np.int64)

    def _all_keys(self, collection: str) -> list[int]:
        """Every key of ``collection``, read range by range of the key space (keys are uniform hashes, so
        a range holds about its share of the rows; a full one is split). Milvus Lite has no query iterator."""
        rows = self.client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
        limit = BATCH * 10
        parts = max(1, math.ceil(4 * rows / limit))
        top = (1 << 63) - 1
        step = top // parts + 1
        ranges = [(lo, min(lo + step - 1, top)) for lo in range(0, top, step)]  # inclusive
        keys: list[int] = []
        while ranges:
            lo, hi = ranges.pop()
            got = self.client.query(collection, filter=f"id >= {lo} and id <= {hi}", output_fields=["id"], limit=limit)
            if len(got) >= limit and hi > lo:
                mid = (lo + hi) // 2
                ranges += [(lo, mid), (mid + 1, hi)]
            else:
                keys.extend(int(r["id"]) for r in got)
        return keys

    # -- reading ----------------------------------------------------------------------------

    def open(
        self, folder: Path, manifest: Manifest, chunks: Sequence[Chunk], sentences: Sequence[Sentence]
    ) -> tuple[MilvusVectors, MilvusVectors, MilvusKeywords]:
        name = manifest.store.get("collection", "")
        client = self.client
        for part in ("chunks", "sentences"):
            if not name or not client.has_collection(f"{name}_{part}"):
                raise IndexDamaged(f"Milvus collection {name}_{part} is missing from {self.spec}: {REPAIR}")
            client.load_collection(f"{name}_{part}")
        try:
            frequencies = Frequencies.load(folder / FREQUENCIES, len(chunks))
        except ValueError as exc:
            raise damaged(folder / FREQUENCIES, str(exc)) from None
        hashes = {d: entry.hash for d, entry in manifest.documents.items()}
        dimension = manifest.model.dimension
        chunk_keys = row_keys(chunks, hashes)
        return (
            MilvusVectors(client, f"{name}_chunks", chunk_keys, dimension),
            MilvusVectors(client, f"{name}_sentences", row_keys(sentences, hashes), dimension),
            MilvusKeywords(client, f"{name}_chunks", chunk_keys, frequencies),
        )
