"""PDF files: the text layer of each page, with pypdf.

pypdf was chosen over pdfminer.six after measuring both on real PDFs (the
README's "PDF, web pages and Word files"): the same words in the same order, at
two and a half times the speed. Lines that a page wraps are joined again into
paragraphs, so that a paragraph is one line of the stored text as it is in a
``.txt`` article; a word that LaTeX hyphenated at a line end is made whole.
"""

from __future__ import annotations

import io
import logging
import re

from qa.loaders import Extracted, LoadError, iso_date, join_pages

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd font; a damaged file raises

_SPACES = re.compile(r"[ \t\u00a0]+")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"})
_BULLET = re.compile(r"^(?:[-•*–]\s|\d{1,2}[.)]\s)")
SHORT = 0.75  # a line shorter than this share of a full line ends its paragraph
GAP = 1.3  # a line further below the one before than this many usual line distances starts a paragraph
_NO_TITLE = re.compile(r"^(?:untitled|microsoft word - .*|.*\.(?:docx?|pdf|tex|odt|rtf))$", re.I)


def extract(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (it needs a password): save a copy without one")
        raw = [_page_lines(page) for page in reader.pages]
        width, pitch = _width(raw), _pitch(raw)
        pages = [_reflow(lines, width, pitch) for lines in raw]
        meta = reader.metadata
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError("encrypted PDF (it needs a password): save a copy without one") from None
    except NotImplementedError as exc:  # an encryption pypdf cannot undo
        raise LoadError(f"encrypted PDF that cannot be read ({exc}): save a copy without a password") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        detail = " ".join(str(exc).split())[:80]
        raise LoadError(f"damaged PDF ({type(exc).__name__}: {detail}): export it again") from None
    if not pages:
        raise LoadError("PDF with no pages")
    if not any(p.strip() for p in pages):
        raise LoadError(f"no text layer in its {len(pages)} page(s): needs OCR (a scanned PDF)")
    text, starts = join_pages(pages)
    title = (meta.title or "").strip() if meta else ""
    return Extracted(
        text=text,
        kind="pdf",
        title=None if not title or _NO_TITLE.match(title) else title,
        date=iso_date(_created(meta)),
        author=((meta.author or "").strip() or None) if meta else None,
        pages=starts,
    )


def _created(meta) -> object:
    """The creation date in the PDF's metadata, None when it is missing or unreadable."""
    if meta is None:
        return None
    try:
        return meta.creation_date
    except (ValueError, TypeError):
        return None


_Line = tuple[str, float | None]  # a line's text and its height on the page (None when not known)


def _page_lines(page) -> list[_Line]:
    """A page's non-empty lines (runs of spaces made one, ligatures spelt out), each with its baseline height.

    pypdf's visitor gives every piece of text with its matrices; pieces on one baseline make a line. When
    those lines do not pair one to one with ``extract_text``'s (formulas, rotated text), heights are None.
    """
    pieces: list[tuple[str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text:
            pieces.append((text, tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))

    lines = [
        _SPACES.sub(" ", line).strip().translate(_LIGATURES)
        for line in (page.extract_text(visitor_text=visit) or "").splitlines()
    ]
    lines = [line for line in lines if line]
    found: list[list] = []
    for text, y in pieces:
        for i, part in enumerate(text.split("\n")):
            if i > 0 or not found or abs(found[-1][1] - y) > 0.5:
                found.append(["", y])
            found[-1][0] += part
    heights = [y for text, y in found if text.strip()]
    if len(heights) != len(lines):
        heights = [None] * len(lines)
    return list(zip(lines, heights))


def _width(pages: list[list[_Line]]) -> int:
    """How many characters a full line of the document holds (the 90th percentile of its line lengths)."""
    lengths = sorted(len(text) for lines in pages for text, _ in lines)
    return lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0


def _pitch(pages: list[list[_Line]]) -> float | None:
    """The usual distance from one line down to the next (the median), None when heights are not known."""
    steps = sorted(
        a[1] - b[1] for lines in pages for a, b in zip(lines, lines[1:]) if a[1] is not None and b[1] is not None
    )
    steps = [s for s in steps if s > 0]
    return steps[len(steps) // 2] if steps else None


def _reflow(lines: list[_Line], width: int, pitch: float | None) -> str:
    """A page's lines with wrapped lines joined again. A line ends its paragraph when it stops well short of
    the margin (the last line of a paragraph, a heading, a byline) or the next line starts lower than the
    usual line distance (a paragraph gap); a list item always starts a line."""
    if not lines:
        return ""
    out = [lines[0][0]]
    for (previous, above), (line, below) in zip(lines, lines[1:]):
        gap = pitch is not None and above is not None and below is not None and above - below > GAP * pitch
        if gap or len(previous) < SHORT * width or _BULLET.match(line):
            out.append(line)
        elif re.search(r"[a-z]-$", previous) and line[:1].islower():
            out[-1] = out[-1][:-1] + line  # "adip-" + "iscing"
        else:
            out[-1] = out[-1] + " " + line
    return "\n".join(out)
