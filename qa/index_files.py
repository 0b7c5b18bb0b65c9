"""Reading an index build's files, each checked as it is read.

Every reader returns records or vectors, or raises ``IndexDamaged``: one line
that names the file (and line), says what is wrong with it, and what to do.
``qa.store`` builds and loads indexes with these; nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import orjson

from qa.bm25_index import BM25Index
from qa.errors import IndexDamaged, IndexMismatch
from qa.faiss_index import FaissIndex
from qa.records import Manifest, Sentence

T = TypeVar("T")

SCHEMA_VERSION = 5  # 2: sentence spans start after list bullets; 3: long sentences cut at clauses; 4: entities;
# 5: the BM25 index is saved with the build
FAISS_HEADER = 4096  # bytes a flat FAISS file holds besides its vectors (about 50), with room to spare
REPAIR = "run `qa index` to rebuild the index from the corpus"

# The fields of each record an index file holds, and their JSON types: anything else is a damaged file.
_MAYBE_STR = (str, type(None))
MANIFEST_FIELDS = dict(schema_version=int, model=dict, chunking=dict, fingerprint=str, created=str, counts=dict)
MANIFEST_FIELDS |= dict(documents=dict, entities=str)
MODEL_FIELDS = {"name": str, "dimension": int, "max_tokens": int}
ENTRY_FIELDS = {"hash": str, "title": str, "date": _MAYBE_STR, "chunks": int}
DOCUMENT_FIELDS = dict(doc=str, title=str, date=_MAYBE_STR, text=str, segments=list, content_hash=str)
CHUNK_FIELDS = {"id": str, "doc": str, "start": int, "end": int, "text": str}
SENTENCE_FIELDS = {"doc": str, "start": int, "end": int}
_KINDS = {str: "a string", int: "an integer", dict: "an object", list: "a list", type(None): "null"}


def current_build(index_dir: Path) -> Path | None:
    """The live build named by ``CURRENT``; None when nothing was built yet."""
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise damaged(pointer, why(exc)) from None
    if not name or "/" in name or name.startswith("."):
        raise damaged(pointer, f"{name[:40]!r} is not the name of a build")
    return index_dir / "builds" / name


def read_manifest(path: Path) -> Manifest:
    """The manifest at ``path``: ``IndexMismatch`` when it is of another schema, ``IndexDamaged`` when it
    cannot be read."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise damaged(path, why(exc)) from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version != SCHEMA_VERSION:
        raise IndexMismatch(f"index schema {version} is not {SCHEMA_VERSION}: rebuild it with `qa index --rebuild`")
    try:
        check_fields(raw, MANIFEST_FIELDS, "manifest")
        check_fields(raw["model"], MODEL_FIELDS, "model")
        for doc, entry in raw["documents"].items():
            try:
                check_fields(entry, ENTRY_FIELDS, "entry")
                count = entry.get("sentences")
                if count is not None and (type(count) is not int or count < 0):
                    raise ValueError("entry sentences is not a count")
            except ValueError as exc:  # named only now: 100,000 names cost a tenth of a second
                name = f"documents[{json.dumps(doc, ensure_ascii=False)}]"
                raise ValueError(str(exc).replace("entry", name, 1)) from None
        return Manifest.from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(path, why(exc)) from None


def read_vectors(path: Path, rows: int, dimension: int, kind: str = "flat") -> FaissIndex:
    """The vectors at ``path``: ``rows`` of ``dimension`` floats in a FAISS index of ``kind`` (the manifest's).

    A flat file's size is checked before FAISS reads it; an approximate one's exact vectors are checked by
    ``FaissIndex.load`` against the shape its header gives."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise damaged(path, why(exc)) from None
    need = 4 * rows * dimension
    if kind == "flat" and not need <= size <= need + FAISS_HEADER:
        raise damaged(path, f"{size:,} bytes where {rows:,} vectors take {need:,}; truncated or of another build")
    try:
        index = FaissIndex.load(path)
    except (RuntimeError, ValueError, OSError, MemoryError) as exc:
        raise damaged(path, str(exc) if kind != "flat" else "not a FAISS index file") from None
    if len(index) != rows or index.dimension != dimension:
        raise damaged(path, f"{len(index)} vectors of {index.dimension} dimensions, not {rows} of {dimension}")
    if index.kind != kind:
        raise damaged(path, f"a {index.kind} index where the manifest says {kind}")
    return index


def read_keywords(folder: Path, rows: int) -> BM25Index:
    """The saved BM25 index of a build's ``rows`` chunks."""
    try:
        return BM25Index.load(folder, rows)
    except ValueError as exc:
        raise damaged(folder, str(exc)) from None


def read_records(
    path: Path, fields: dict[str, type | tuple[type, ...]], make: Callable[[dict], T], checksums: dict[str, str]
) -> tuple[list[T], bool]:
    """The records of a JSON Lines file of the build, and whether the file is whole: its SHA-256 is the one
    ``checksums`` (the manifest's) gives for its name. A whole file's records are not checked field by field.
    ``IndexDamaged`` naming the file and line when a record cannot be read."""
    records, number = [], 0
    try:
        data = path.read_bytes()
        whole = checksums.get(path.name) == hashlib.sha256(data).hexdigest()
        # split at newlines only: JSON escapes them in strings, but not U+2028 or U+0085, which splitlines cuts at
        lines = data.split(b"\n") if whole else data.decode("utf-8").split("\n")
        for number, line in enumerate(lines, 1):  # noqa: B007 (the error names the line)
            if line.strip():
                record = orjson.loads(line)
                if not whole:
                    check_fields(record, fields)
                records.append(make(record))
    except OSError as exc:
        raise damaged(path, why(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise damaged(path, f"line {number}: {why(exc)}") from None
    return records, whole


class LazySentences(Sequence):
    """The sentences of a build, each read from its line of ``sentences.jsonl`` when first asked for.

    Only for a file whose checksum is the manifest's: its lines are then the build's records, and
    ``ranges`` (each document's rows, from the manifest's counts) says where each document's are. At
    100,000 passages reading every sentence into a record took over a second of each start."""

    def __init__(self, lines: list[bytes], ranges: dict[str, tuple[int, int]]):
        self._lines = lines
        self._read: dict[int, Sentence] = {}  # dict writes are atomic: threads may share it
        self.ranges = ranges

    def __len__(self) -> int:
        return len(self._lines)

    def __eq__(self, other: object) -> bool:  # as the list of its sentences
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        found = self._read.get(row)
        if found is None:
            if not 0 <= row < len(self._lines):
                raise IndexError(row)
            found = self._read[row] = Sentence.from_dict(orjson.loads(self._lines[row]))
        return found


def read_sentences(path: Path, manifest: Manifest) -> LazySentences | None:
    """``sentences.jsonl`` to be read lazily, when the file is whole and the manifest counts each document's
    sentences; None otherwise (``read_records`` then reads and checks every line)."""
    if any(entry.sentences is None for entry in manifest.documents.values()):
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise damaged(path, why(exc)) from None
    if manifest.checksums.get(path.name) != hashlib.sha256(data).hexdigest():
        return None
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    ranges, row = {}, 0
    for doc, entry in manifest.documents.items():
        ranges[doc] = (row, row + entry.sentences)
        row += entry.sentences
    if row != len(lines):
        raise damaged(path, f"{len(lines)} sentences where the manifest counts {row}")
    return LazySentences(lines, ranges)


def check_fields(record: object, fields: dict[str, type | tuple[type, ...]], where: str = "record") -> None:
    """``ValueError`` naming the first field of ``record`` that is missing or of the wrong type."""
    if not isinstance(record, dict):
        raise ValueError(f"{where} is not a JSON object")
    for key, kind in fields.items():
        if key not in record:
            raise ValueError(f'{where} has no "{key}"')
        value = record[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            expected = " or ".join(_KINDS[k] for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f'{where} "{key}" is {json.dumps(value)[:24]}, not {expected}')


def damaged(path: Path, reason: str) -> IndexDamaged:
    return IndexDamaged(f"{path} cannot be read ({reason}): {REPAIR}")


def why(exc: Exception) -> str:
    """A short reason for a read error: no traceback, no FAISS internals."""
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return f"bad JSON at {where}: {exc.msg}"
    if isinstance(exc, KeyError):
        return f"no {exc}"
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


def problem(exc: Exception) -> str:
    """An index error's message without what to do about it (for a report that has done it)."""
    message = str(exc)
    for advice in (f": {REPAIR}", ": rebuild it with `qa index --rebuild`"):
        message = message.removesuffix(advice)
    return message
