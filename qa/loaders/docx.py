"""Word files (``.docx``), with python-docx: paragraphs and tables in document order, headings as lines.

A ``.docx`` is a zip archive. Before python-docx opens it, the sizes its members
unpack to are added up and a file that would unpack past ``MAX_UNPACKED`` is
refused: that is a zip bomb, not an article. (Python's zipfile never unpacks a
member past the size its header states, so the check holds for what is read.)
"""

from __future__ import annotations

import io
import zipfile

from qa.loaders import Extracted, LoadError, iso_date

MAX_UNPACKED = 100_000_000


def extract(data: bytes) -> Extracted:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LoadError(f"damaged Word file ({exc}): save it again") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED:
        raise LoadError(
            f"unpacks to {unpacked:,} bytes, past the {MAX_UNPACKED // 1_000_000} MB limit (a zip bomb?): not read"
        )
    if not any(m.filename == "word/document.xml" for m in members):
        raise LoadError("a zip archive without word/document.xml, not a Word file")
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(" | ".join(_unique(c.text.strip() for c in row.cells)) for row in block.rows)
            else:
                lines.append(block.text.strip())
        props = document.core_properties
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise LoadError(f"damaged Word file ({type(exc).__name__}): save it again") from None
    except Exception as exc:  # lxml's XMLSyntaxError and python-docx's own errors
        raise LoadError(f"damaged Word file ({type(exc).__name__}): save it again") from None
    text = "\n".join(line for line in lines if line)
    return Extracted(
        text=text + "\n" if text else "",
        kind="docx",
        title=(props.title or "").strip() or None,
        date=iso_date(props.created),
        author=(props.author or "").strip() or None,
    )


def _unique(cells) -> list[str]:
    """A row's cell texts, a merged cell (which python-docx repeats) once."""
    out: list[str] = []
    for cell in cells:
        if cell and (not out or out[-1] != cell):
            out.append(cell)
    return out
