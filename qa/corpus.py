"""Loading a corpus: files or JSON Lines records in, cleaned ``Document``s out.

Plain text (``.txt``, ``.md``, JSON Lines records) is taken as it is on disk;
PDF, HTML and Word files go through ``qa.loaders`` first. ``qa.cleaning`` then
marks each text's body spans, headline and date. Files that cannot be used are
skipped and named, one line each; unchanged files are taken from the index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qa import loaders
from qa.cleaning import BOM, make_document
from qa.corpus_files import CorpusFile, corpus_files, read_corpus_file, too_large
from qa.errors import CorpusError, UploadError
from qa.records import Document, FileStamp

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")  # plain text, read as it is on disk
EXTRACTED_SUFFIXES = tuple(loaders.KINDS)  # PDF, HTML, Word: their text is extracted (qa.loaders)
DOCUMENT_SUFFIXES = SUFFIXES + EXTRACTED_SUFFIXES  # the files that are one document each
JSONL_SUFFIXES = (".jsonl",)
METADATA_FILE = "metadata.json"
# Documents of formats not read, named when skipped (other files, such as images, are passed over in silence).
UNREAD_DOCUMENTS = {
    ".doc": "Word 97-2003 files are not read: save it as .docx",
    ".odt": "OpenDocument text is not read: save it as .docx",
    ".rtf": "RTF files are not read: save it as .docx",
    ".pages": "Pages files are not read: export it as .docx or .pdf",
    ".epub": "EPUB books are not read: convert it to .pdf or .html",
}
MAX_FILE_BYTES = 5_000_000
EXTRACTED_SIZE_FACTOR = 10  # a PDF, saved page or Word file may be this many times larger than a text file


@dataclass
class LoadResult:
    documents: list[Document]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    sources: dict[str, str] = field(default_factory=dict)  # document id -> its file, or "file.jsonl:line"
    stamps: dict[str, FileStamp] = field(default_factory=dict)  # what was read, by file name (for the manifest)
    cleaned: int = 0  # files read and cleaned (not taken as they were from the index)


@dataclass(frozen=True)
class Known:
    """What the index already holds: its files' stamps and its documents. A file whose stamp
    still matches gives back its documents without being cleaned again."""

    stamps: Mapping[str, FileStamp]
    documents: Mapping[str, Document]


def load_corpus(path: Path | str, max_bytes: int = MAX_FILE_BYTES, known: Known | None = None) -> LoadResult:
    """Load every usable document under ``path`` (a folder or a ``.jsonl`` file).

    Unusable files and records are skipped, logged (at info) with one line each, and listed
    in ``LoadResult.skipped``: unreadable or oversized files, records of the wrong
    shape, a second document with an id already seen (the first one wins), and
    symbolic links that lead outside the folder (see ``corpus_files``).

    With ``known`` (the index's files and documents), a file whose size and mtime are
    those recorded is not read, and one whose raw bytes hash the same is not cleaned:
    its documents come from the index. A changed ``metadata.json`` re-reads everything.
    """
    root = Path(path)
    if not root.exists():
        raise CorpusError(f"corpus not found: {root} (pass --corpus with a folder of articles or a .jsonl file)")
    result = LoadResult(documents=[])
    if root.is_file():
        stat = root.stat()
        _load_file(CorpusFile(root.name, root.resolve(), (stat.st_dev, stat.st_ino)), result, max_bytes, {}, known)
    else:
        files, result.skipped = corpus_files(root)
        metadata = next((f for f in files if f.name == METADATA_FILE), None)
        overrides = _read_metadata(metadata, result) if metadata else {}
        meta_now = _stamp_of(metadata)
        if meta_now is not None:
            result.stamps[METADATA_FILE] = meta_now
        meta_before = known.stamps.get(METADATA_FILE) if known is not None else None
        if (meta_now and meta_now.sha256) != (meta_before and meta_before.sha256):
            known = None  # titles and dates may have changed for any file
        for file in files:
            suffix = Path(file.name).suffix.lower()
            if suffix in JSONL_SUFFIXES + DOCUMENT_SUFFIXES:
                _load_file(file, result, max_bytes, overrides.get(file.name, {}), known)
            elif suffix in UNREAD_DOCUMENTS:
                result.skipped.append((file.name, UNREAD_DOCUMENTS[suffix]))
    for name, reason in result.skipped:
        log.info("skipped %s: %s", name, reason)  # at info: callers show ``skipped`` (the CLI, the Documents tab)
    return result


def _stamp_of(file: CorpusFile | None) -> FileStamp | None:
    """``file``'s size, mtime and raw-bytes hash as it is now (None when there is none or it cannot be read)."""
    if file is None:
        return None
    try:
        st = os.stat(file.path)
        digest = hashlib.sha256(read_corpus_file(file, MAX_FILE_BYTES)).hexdigest()
    except (OSError, ValueError):
        return None
    return FileStamp(st.st_size, st.st_mtime_ns, digest)


def _load_file(file: CorpusFile, result: LoadResult, max_bytes: int, meta: dict, known: Known | None) -> None:
    """Read one text or JSON Lines file into ``result``, or take its documents from ``known`` when unchanged."""
    old = known.stamps.get(file.name) if known is not None else None
    kind = loaders.kind_of(file.name)
    reader = "+" + loaders.version(kind) if kind else ""  # a PDF, page or Word file: what read it counts too
    if old is not None and not old.sha256.endswith(reader):
        old = None
    if old is not None and _reuse(file, old, old, result, known):
        return
    try:
        st = os.stat(file.path)  # before the read: a file changed meanwhile is read again next time
        jsonl = Path(file.name).suffix.lower() in JSONL_SUFFIXES
        data = read_corpus_file(file, size_limit(file.name, max_bytes))
    except (ValueError, OSError) as exc:
        result.skipped.append((file.name, _reason(exc)))
        return
    stamp = FileStamp(st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest() + reader)
    if old is not None and old.sha256 == stamp.sha256 and _reuse(file, old, stamp, result, known):
        return
    result.cleaned += 1
    before, skipped_before = len(result.documents), len(result.skipped)
    if jsonl:
        _load_jsonl(file, data, result)
    else:
        try:
            document = file_document(file.name, data, max_bytes, meta)
        except ValueError as exc:
            result.skipped.append((file.name, _reason(exc)))
            return
        _add(result, document, file.name)
    docs = tuple((d.doc, result.sources[d.doc]) for d in result.documents[before:])
    own = tuple(x for x in result.skipped[skipped_before:] if not x[1].startswith("duplicate document id"))
    result.stamps[file.name] = FileStamp(stamp.size, stamp.mtime_ns, stamp.sha256, docs, own)


def _reuse(file: CorpusFile, old: FileStamp, now: FileStamp, result: LoadResult, known: Known) -> bool:
    """Add the documents ``old`` records for ``file`` from ``known``; False (nothing added) if any is missing."""
    if old is now:  # the size and mtime must still match
        try:
            st = os.stat(file.path)
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) != (old.size, old.mtime_ns):
            return False
    documents = [known.documents.get(doc) for doc, _ in old.docs]
    if any(d is None for d in documents):
        return False
    for document, (_, where) in zip(documents, old.docs):
        _add(result, document, where)
    result.skipped.extend(old.skipped)
    result.stamps[file.name] = FileStamp(now.size, now.mtime_ns, now.sha256, old.docs, old.skipped)
    return True


def file_document(name: str, data: bytes, max_bytes: int = MAX_FILE_BYTES, meta: dict | None = None) -> Document:
    """The ``Document`` of one file's bytes: plain text as it is, other formats through ``qa.loaders``.

    Titles and dates of ``meta`` (``metadata.json``) win over the file's own (PDF
    metadata, HTML meta tags, Word properties), which win over those found in the text.
    ``ValueError`` (``LoadError`` for the other formats) says in one line why it cannot be read.
    """
    meta = meta or {}
    extra = json.dumps(meta, sort_keys=True)
    if loaders.kind_of(name) is None:
        text = _decode(data, max_bytes)
        return make_document(name, text, meta.get("title"), meta.get("date"), extra_hash=extra)
    if len(data) > size_limit(name, max_bytes):
        raise ValueError(too_large(len(data), size_limit(name, max_bytes)))
    got = loaders.extract(name, data)
    title, date = meta.get("title") or got.title, meta.get("date") or got.date
    return make_document(name, got.text, title, date, extra, kind=got.kind, pages=got.pages, author=got.author)


def check_upload(name: str, data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Validate an uploaded file; return its document or raise ``UploadError`` with a one-line reason."""
    if Path(name).suffix.lower() not in DOCUMENT_SUFFIXES:
        raise UploadError(f"{name}: only .txt, .md, .pdf, .html, .htm and .docx files can be added")
    try:
        return file_document(name, data, max_bytes)
    except ValueError as exc:
        raise UploadError(f"{name}: {exc}") from None


def size_limit(name: str, max_bytes: int) -> int:
    """The size limit of a file: JSON Lines files hold many documents; PDF, HTML and Word files carry layout."""
    suffix = Path(name).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return max_bytes * 100
    return max_bytes * EXTRACTED_SIZE_FACTOR if suffix in EXTRACTED_SUFFIXES else max_bytes


def _decode(data: bytes, max_bytes: int) -> str:
    """The text of a file, decoded as UTF-8: a byte order mark stays as ``BOM``, so offsets count it."""
    if len(data) > max_bytes:
        raise ValueError(too_large(len(data), max_bytes))
    found = loaders.sniff(data)
    if found in ("pdf", "docx", "zip"):
        raise ValueError(f"the content is {loaders.NAMES[found]}, not text: give it the name .{found}")
    if b"\x00" in data[:8192]:
        raise ValueError("binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8") from None
    if not text.lstrip(BOM).strip():
        raise ValueError("empty file")
    return text


def _reason(exc: Exception) -> str:
    """One line for why a file could not be read (no traceback, no absolute path)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return str(exc)


def _add(result: LoadResult, document: Document, where: str) -> None:
    """Add ``document`` unless its id is taken: the first one wins, a later one is skipped and named."""
    first = result.sources.get(document.doc)
    if first is not None:
        result.skipped.append((where, f"duplicate document id {document.doc!r} (first read from {first}): skipped"))
        return
    result.sources[document.doc] = where
    result.documents.append(document)


def _load_jsonl(file: CorpusFile, data: bytes, result: LoadResult) -> None:
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        result.skipped.append((file.name, _reason(exc)))
        return
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc_id, text, title, date = _record(line)
        except ValueError as exc:
            result.skipped.append((f"{file.name}:{number}", f'bad record ({exc}); expected {{"id", "title", "text"}}'))
            continue
        _add(result, make_document(doc_id, text, title, date), f"{file.name}:{number}")


def _record(line: str) -> tuple[str, str, str | None, str | None]:
    """(id, text, title, date) of one JSON Lines record; ``ValueError`` naming what is wrong."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    doc_id = record.get("id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)  # 17 and "17" name the same record
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise ValueError('"id" is missing or not a string')
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" is missing or not a string')
    if not text.lstrip(BOM).strip():
        raise ValueError("empty text")
    return doc_id, text, _optional_string(record, "title"), _optional_string(record, "date")


def _optional_string(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f'"{key}" is {_kind(value)}, not a string')
    return value


def _kind(value: object) -> str:
    """What a JSON value is, in words."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "null")


def _read_metadata(file: CorpusFile, result: LoadResult) -> dict[str, dict]:
    """Title and date overrides by file name; entries of the wrong shape are skipped and named by line."""
    try:
        raw = read_corpus_file(file, MAX_FILE_BYTES).decode("utf-8-sig")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError('expected an object mapping file names to {"title", "date"}')
    except (ValueError, OSError) as exc:
        result.skipped.append((METADATA_FILE, f"ignored: {_reason(exc)}"))
        return {}
    overrides = {}
    for name, entry in data.items():
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"{_kind(entry)}, not an object")
            _optional_string(entry, "title")
            _optional_string(entry, "date")
        except ValueError as exc:
            line = raw.count("\n", 0, max(raw.find(json.dumps(name, ensure_ascii=False)), 0)) + 1
            result.skipped.append(
                (f"{METADATA_FILE}:{line}", f'entry for {name!r} ignored: {exc}; expected {{"title", "date"}}')
            )
            continue
        overrides[name] = entry
    return overrides
