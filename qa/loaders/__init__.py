"""Reading the files people keep (PDF, saved web pages, Word) as plain text with their metadata.

One interface for every format: ``extract(name, data)`` returns an ``Extracted``
record (the text, its title, date and author when the file has them, and for a
PDF where each page starts), or raises ``LoadError`` with a one-line reason. Each
format lives in a module of its own (``qa.loaders.pdf``, ``.html``, ``.docx``),
imported only when a file of its kind is read.

The format is taken from the name and checked against the content: a ``.pdf``
that is really a Word file is refused, not guessed at. Plain text (``.txt``,
``.md``) is not read here; ``qa.corpus`` reads it as it is on disk.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

KINDS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx"}  # file suffix -> format
NAMES = {"pdf": "a PDF", "html": "an HTML page", "docx": "a Word (.docx) file", "zip": "a zip archive", "text": "text"}
_TAG = re.compile(rb"<(?:html|head|body|article|main|div|p|meta|title)[\s>/]")


class LoadError(ValueError):
    """A file that cannot be read as its format: ``str(exc)`` is the one-line reason."""


@dataclass(frozen=True)
class Extracted:
    """What a loader read from a file: plain text, and where each page of it starts."""

    text: str
    kind: str  # "pdf", "html" or "docx"
    title: str | None = None
    date: str | None = None  # ISO date, YYYY-MM-DD
    author: str | None = None
    pages: tuple[int, ...] = ()  # the offset in ``text`` where each page starts (PDF only), the first is 0


READING = 1  # raised when a loader here changes what it makes of a file: every such file is read again
LIBRARIES = {"pdf": "pypdf", "html": "trafilatura", "docx": "python-docx"}


@functools.cache
def version(kind: str) -> str:
    """What reads files of ``kind`` ("pdf:1:pypdf-7.1.0"): recorded with each file the index holds, so a file
    read by another version of the loader or its library is read again rather than taken from the index."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        library = f"{LIBRARIES[kind]}-{installed(LIBRARIES[kind])}"
    except PackageNotFoundError:
        library = LIBRARIES[kind]
    return f"{kind}:{READING}:{library}"


def kind_of(name: str) -> str | None:
    """The format a file name says (``"pdf"``, ``"html"``, ``"docx"``), None for anything else."""
    return KINDS.get(Path(name).suffix.lower())


def sniff(data: bytes) -> str:
    """What the content is, whatever the name says: "pdf", "docx", "zip" (another archive), "html" or "text"."""
    head = data[:4096]
    if head.lstrip()[:5] == b"%PDF-":
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx" if b"word/" in data[:200_000] or b"[Content_Types].xml" in head else "zip"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<!--", b"<?xml")) or _TAG.search(head.lower()):
        return "html"
    return "text"


def extract(name: str, data: bytes) -> Extracted:
    """The text and metadata of ``data``, read as the format ``name`` says; ``LoadError`` when it cannot be."""
    kind = kind_of(name)
    if kind is None:
        raise LoadError(f"{Path(name).suffix or 'no suffix'}: not a format that can be read")
    found = sniff(data)
    if found != kind:
        raise LoadError(f"named .{kind} but the content is {NAMES[found]}: rename it, or save it again as {kind}")
    module = importlib.import_module(f"qa.loaders.{kind}")
    try:
        extracted = module.extract(data)
    except LoadError:
        raise
    except Exception as exc:  # a library's own error on a strange file: it must not stop the others loading
        log.warning("reading %s failed", name, exc_info=True)
        raise LoadError(f"could not be read as {NAMES[kind]} ({type(exc).__name__}): save it again") from None
    if not extracted.text.strip():
        raise LoadError("no text found in the file")
    return extracted


def iso_date(value: object) -> str | None:
    """``value`` (a datetime, or text starting with YYYY-MM-DD) as an ISO date, or None."""
    if value is None:
        return None
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    m = re.match(r"\s*((?:19|20)\d\d-\d\d-\d\d)", str(value))
    return m.group(1) if m else None


def join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """One text from page texts, and where each page starts in it.

    Pages are separated by a blank line, except where a sentence runs on from one
    page to the next (the page ends mid-sentence and the next starts in lower case):
    there a space joins them, so the sentence stays whole.
    """
    text, starts = "", []
    for page in pages:
        page = page.strip("\n")
        if text and page:
            runs_on = not text.rstrip().endswith((".", "!", "?", ":", '"', "”")) and page[:1].islower()
            text = text.rstrip() + (" " if runs_on else "\n\n")
        starts.append(len(text))
        text += page
    return text, tuple(starts)
