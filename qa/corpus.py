"""Loading a corpus: files or JSON Lines records in, cleaned ``Document``s out.

Cleaning never rewrites text. It decides which spans of the original text are
body (``Document.segments``), so every later offset points into the file as it
is on disk. The rules are general ones for scraped news pages: call-to-action
boilerplate, image leftovers, photo captions, repeated headlines, bylines and
date lines in the header, and a ``date YYYY-MM-DD`` prefix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qa import loaders
from qa.corpus_files import CorpusFile, corpus_files, read_corpus_file, too_large
from qa.errors import CorpusError, UploadError
from qa.records import Document, FileStamp
from qa.text import BULLET, MONTH, MONTH_NAMES, normalize

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")  # plain text, read as it is on disk
EXTRACTED_SUFFIXES = tuple(loaders.KINDS)  # PDF, HTML, Word: their text is extracted (qa.loaders)
DOCUMENT_SUFFIXES = SUFFIXES + EXTRACTED_SUFFIXES  # the files that are one document each
JSONL_SUFFIXES = (".jsonl",)
METADATA_FILE = "metadata.json"
MAX_FILE_BYTES = 5_000_000
EXTRACTED_SIZE_FACTOR = 10  # a PDF, saved page or Word file may be this many times larger than a text file

MONTHS = {m: i for i, m in enumerate(MONTH_NAMES, 1)}
_MONTH_RE = f"(?P<month>{MONTH})"
_DATE_PATTERNS = [
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mnum>\d\d)-(?P<day>\d\d)\b"),
    re.compile(r"\b(?P<mnum>\d{1,2})/(?P<day>\d{1,2})/(?P<year>(?:19|20)\d\d)\b"),
    re.compile(_MONTH_RE + r"\s+(?P<day>\d{1,2}),?\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<day>\d{1,2})\s+" + _MONTH_RE + r",?\s+(?P<year>(?:19|20)\d\d)\b"),
]
# "date 2022-05-04 ...", "Published: March 3, 2025" at the start of a line.
_DATE_LABEL = re.compile(r"^\s*(?:date|published|posted|updated|last updated)\s*:?\s*", re.I)
_DATE_ONLY_LINE = re.compile(r"^\s*(?:(?:date|published|posted|updated|last updated)\s*:?\s*)?$", re.I)

# Short lines that are page furniture rather than article text.
_BOILERPLATE = re.compile(
    r"\b(?:log ?in|sign ?in|sign ?up|subscribe|subscription|free trial|premium|newsletter|"
    r"advertisement|sponsored|all rights reserved|cookies?|click here|read more|share this|"
    r"follow us|download (?:the|our) app|related (?:articles|stories|posts)|comments? (?:are )?closed|"
    r"post a comment|leave a (?:comment|reply)|terms of (?:use|service)|privacy policy)\b",
    re.I,
)
_IMAGE_LEFTOVER = re.compile(r"(?:^!\[.*\]\(.*\)$)|(?:\.(?:jpe?g|png|gif|webp|svg|avif)\)?\s*$)", re.I)
_URL_ONLY = re.compile(r"^\(?https?://\S+\)?$")
_PHOTO_CREDIT = re.compile(
    r"\((?:[^()]*\b(?:photo|image|via ap|getty|reuters|afp|ap photo|credit)\b[^()]*)\)\s*$", re.I
)
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_SECTION_LABEL = re.compile(r"^[A-Z]{3,}(?: [A-Z]{3,})?:\s+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


BOM = "\ufeff"  # a UTF-8 byte order mark decodes to this character; it is never body text nor title


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


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # without the newline
    text: str

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))


def load_corpus(path: Path | str, max_bytes: int = MAX_FILE_BYTES, known: Known | None = None) -> LoadResult:
    """Load every usable document under ``path`` (a folder or a ``.jsonl`` file).

    Unusable files and records are skipped, logged with one line each, and listed
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
            if Path(file.name).suffix.lower() in JSONL_SUFFIXES + DOCUMENT_SUFFIXES:
                _load_file(file, result, max_bytes, overrides.get(file.name, {}), known)
    for name, reason in result.skipped:
        log.warning("skipped %s: %s", name, reason)
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
    if old is not None and _reuse(file, old, old, result, known):
        return
    try:
        st = os.stat(file.path)  # before the read: a file changed meanwhile is read again next time
        jsonl = Path(file.name).suffix.lower() in JSONL_SUFFIXES
        data = read_corpus_file(file, size_limit(file.name, max_bytes))
    except (ValueError, OSError) as exc:
        result.skipped.append((file.name, _reason(exc)))
        return
    stamp = FileStamp(st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest())
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
        suffix = {"pdf": ".pdf", "docx": ".docx", "zip": ".zip"}[found]
        raise ValueError(f"the content is {loaders.NAMES[found]}, not text: give it the name {suffix}")
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


def make_document(
    doc: str,
    text: str,
    title: str | None = None,
    date: str | None = None,
    extra_hash: str = "",
    kind: str = "text",
    pages: tuple[int, ...] = (),
    author: str | None = None,
) -> Document:
    """Clean ``text`` and build its ``Document``; explicit title/date win over detected ones."""
    segments, found_title, found_date = clean(text)
    if not segments:
        segments = ((1 if text.startswith(BOM) else 0, len(text)),)
    title = (title or "").replace(BOM, "").strip() or found_title or derive_title(text, segments) or Path(doc).stem
    extra_hash += "" if kind == "text" else f"\0{kind}\0{pages}\0{author}"
    digest = hashlib.sha256((text + "\0" + (title or "") + "\0" + (date or "") + extra_hash).encode()).hexdigest()
    return Document(
        doc=doc,
        title=title,
        date=date or found_date,
        text=text,
        segments=tuple(segments),
        content_hash=digest[:32],
        kind=kind,
        pages=pages,
        author=author,
    )


def clean(text: str) -> tuple[list[tuple[int, int]], str | None, str | None]:
    """Return (body segments, headline, publication date) for a raw article."""
    lines = _split_lines(text)
    keep: list[_Line | None] = []
    seen: set[str] = set()
    title = date = None
    in_header = True
    for line in lines:
        stripped = line.text.strip()
        key = normalize(stripped).lower()
        if not stripped:
            continue  # blank lines separate paragraphs, not segments
        found = find_date(stripped)
        if in_header and found and _DATE_ONLY_LINE.match(stripped[: found[1]] + stripped[found[2] :]):
            date = date or found[0]  # a date line in the header: "3/25/2022", "Updated: ..."
            keep.append(None)
            continue
        if _is_junk(stripped) or key in seen:
            keep.append(None)
            continue
        seen.add(key)
        label = _DATE_LABEL.match(line.text)
        found = find_date(line.text[:40]) if label else None
        if label and found:
            # "date 2022-05-04 Russia announced ...": metadata prefix, body follows.
            date = date or found[0]
            cut = line.start + found[2]
            while cut < line.end and text[cut].isspace():
                cut += 1
            keep.append(_Line(cut, line.end, text[cut : line.end]) if cut < line.end else None)
            continue
        if in_header and _is_header_line(stripped):
            if title is None and line.words >= 2 and not found:
                title = _SECTION_LABEL.sub("", _MD_HEADING.sub("", stripped))
            keep.append(None)  # headline, byline, "Updated:" and date lines are not body text
            continue
        in_header = False
        keep.append(line)
    segments: list[tuple[int, int]] = []
    open_segment = False
    for line in keep:
        if line is None:
            open_segment = False
            continue
        start = line.start + (len(line.text) - len(line.text.lstrip()))
        end = line.end - (len(line.text) - len(line.text.rstrip()))
        if open_segment:
            segments[-1] = (segments[-1][0], end)
        else:
            segments.append((start, end))
            open_segment = True
    if date is None:
        body_top = " ".join(text[s:e] for s, e in segments)[:1200]
        found = find_date(body_top)
        date = found[0] if found else None
    return segments, title, date


def find_date(text: str) -> tuple[str, int, int] | None:
    """First full date in ``text`` as (ISO date, start, end), or None."""
    best = None
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = m.groupdict()
            month = int(parts["mnum"]) if parts.get("mnum") else MONTHS.get(_month_key(parts["month"]))
            day, year = int(parts["day"]), int(parts["year"])
            if month and 1 <= month <= 12 and 1 <= day <= 31:
                if best is None or m.start() < best[1]:
                    best = (f"{year:04d}-{month:02d}-{day:02d}", m.start(), m.end())
                break
    return best


def derive_title(
    text: str, segments: tuple[tuple[int, int], ...] | list[tuple[int, int]], max_words: int = 14
) -> str | None:
    """A readable title from the first sentence of the body."""
    if not segments:
        return None
    first = text[segments[0][0] : segments[0][1]].split("\n", 1)[0]
    bullet = BULLET.match(first)
    first = first[bullet.end() :].strip() if bullet else first.strip()
    sentence = re.split(r"(?<=[.!?])\s+", first, maxsplit=1)[0].rstrip(".!? ")
    words = sentence.split()
    if not words:
        return None
    if len(words) > max_words:
        return " ".join(words[:max_words]).rstrip(",;:") + " …"
    return sentence


def _split_lines(text: str) -> list[_Line]:
    """The lines of ``text`` with their offsets; a leading ``BOM`` belongs to none of them."""
    pos = 1 if text.startswith(BOM) else 0
    lines = []
    for raw in text[pos:].splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        lines.append(_Line(pos, pos + len(body), body))
        pos += len(raw)
    return lines


def _is_junk(line: str) -> bool:
    words = len(_WORD.findall(line))
    if words == 0 or _IMAGE_LEFTOVER.search(line) and words <= 3 or _URL_ONLY.match(line):
        return True
    if words <= 20 and _BOILERPLATE.search(line):
        return True
    return bool(_PHOTO_CREDIT.search(line))


def _is_header_line(line: str) -> bool:
    """Short unpunctuated lines before the article body: headline, byline, dates."""
    if BULLET.match(line):
        return False
    return (
        len(_WORD.findall(line)) <= 15
        and not line.rstrip().endswith((".", "!", "?", '"', "”", ":"))
        or _DATE_ONLY_LINE.match(line) is not None
        or line.rstrip().endswith(":")
        and len(line) < 20
    )


def _month_key(name: str) -> str:
    name = name.lower().rstrip(".")
    return next((m for m in MONTHS if m.startswith(name[:3])), name)
