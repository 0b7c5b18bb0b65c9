"""Cleaning an article's text: which spans are body, and its headline and date.

Cleaning never rewrites text. It decides which spans of the original text are
body (``Document.segments``), so every later offset points into the text as it
was read. The rules are general ones for scraped news pages: call-to-action
boilerplate, image leftovers, photo captions, repeated headlines, bylines and
date lines in the header, and a ``date YYYY-MM-DD`` prefix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from qa.records import Document
from qa.text import BULLET, MONTH, MONTH_NAMES, normalize

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


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # without the newline
    text: str

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))


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
