"""Articles written out as PDF, HTML and Word files, the way people keep them.

The tests build their fixtures with these, and ``benchmarks/formats.py`` converts
the whole corpus with them to score the dev questions on each format. Each writer
takes the article's text (one paragraph a line, as in ``corpus/``) and its title
and date, and puts them where that format keeps them: PDF metadata, HTML meta
tags, Word core properties.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Unicode (curly quotes, dashes); Debian's fonts-dejavu


def _when(date: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC) if date and len(date) == 10 else None


def write_pdf(text: str, path: Path, title: str | None = None, date: str | None = None, font_size: float = 11) -> int:
    """``text`` as a PDF of A4 pages (a paragraph runs on to the next page where it must); returns the page count."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    if FONT.exists():
        pdf.add_font("DejaVu", fname=str(FONT))
        pdf.set_font("DejaVu", size=font_size)
    else:  # the core font has no curly quotes: keep to Latin-1
        pdf.set_font("Helvetica", size=font_size)
        text = text.encode("latin-1", "replace").decode("latin-1")
    if title:
        pdf.set_title(title)
    when = _when(date)
    if when:
        pdf.set_creation_date(when)
    pdf.add_page()
    for paragraph in text.splitlines():
        if paragraph.strip():
            pdf.multi_cell(0, font_size * 0.55, paragraph.strip(), align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(font_size * 0.3)
    pdf.output(str(path))
    if when is None:
        _undated(path)  # fpdf2 stamps the time of writing, which is not the article's date
    return pdf.pages_count


def _undated(path: Path) -> None:
    """Take the creation and modification dates out of a PDF's metadata."""
    from pypdf import PdfReader, PdfWriter

    kept = {k: v for k, v in (PdfReader(path).metadata or {}).items() if k not in ("/CreationDate", "/ModDate")}
    writer = PdfWriter(clone_from=str(path))
    writer.metadata = kept
    writer.write(str(path))


def write_html(text: str, path: Path, title: str, date: str | None = None) -> None:
    """``text`` as a saved news page: the article between a menu, a cookie banner, related links and a footer."""
    paragraphs = "\n".join(f"      <p>{escape(p.strip())}</p>" for p in text.splitlines() if p.strip())
    meta = f'\n  <meta property="article:published_time" content="{date}T09:00:00+00:00">' if date else ""
    time = f'<p class="byline">By Staff Reporter · <time datetime="{date}">{date}</time></p>' if date else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{escape(title)} | World Desk</title>
  <meta property="og:title" content="{escape(title, quote=True)}">{meta}
  <script>window.dataLayer = window.dataLayer || []; function track() {{ return "analytics"; }}</script>
  <style>nav a {{ margin: 0 1em; }} .cookie {{ position: fixed; bottom: 0; }}</style>
</head>
<body>
  <div class="cookie">We use cookies to improve your experience. <button>Accept all cookies</button></div>
  <header>
    <a href="/">World Desk</a>
    <nav><a href="/politics">Politics</a><a href="/business">Business</a><a href="/sport">Sport</a>
      <a href="/subscribe">Subscribe for $1 a week</a><a href="/login">Log in</a></nav>
  </header>
  <main>
    <article>
      <h1>{escape(title)}</h1>
      {time}
{paragraphs}
    </article>
    <aside>
      <h2>Most read</h2>
      <ul><li><a href="/a">Ten gadgets you need this winter</a></li>
        <li><a href="/b">Celebrity chef opens new restaurant downtown</a></li></ul>
      <div class="share">Share this article: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">Email</a></div>
    </aside>
  </main>
  <footer>
    <p>© 2025 World Desk Media Group. All rights reserved.</p>
    <p><a href="/privacy">Privacy policy</a> · <a href="/terms">Terms of use</a> · <a href="/contact">Contact us</a></p>
  </footer>
</body>
</html>
"""
    path.write_text(page, encoding="utf-8")


def write_docx(text: str, path: Path, title: str | None = None, date: str | None = None) -> None:
    """``text`` as a Word file: the title as a heading, one paragraph a line, the title and date as properties."""
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, level=1)
        document.core_properties.title = title
    when = _when(date)
    if when:
        document.core_properties.created = when.replace(tzinfo=None)
    else:  # python-docx's template says it was created in 2013: not the article's date
        props = document.core_properties._element
        for element in list(props):
            if element.tag.rsplit("}", 1)[-1] in ("created", "modified"):
                props.remove(element)
    for paragraph in text.splitlines():
        if paragraph.strip():
            document.add_paragraph(paragraph.strip())
    document.save(str(path))


WRITERS = {"pdf": write_pdf, "html": write_html, "docx": write_docx}


def convert_folder(source: Path, target: Path, kind: str) -> dict[str, str]:
    """Every ``.txt``/``.md`` article of ``source`` written into ``target`` as ``kind`` (pdf, html or docx),
    with the title and date the plain-text reader finds; returns {old name: new name}."""
    from qa.cleaning import make_document

    target.mkdir(parents=True, exist_ok=True)
    names = {}
    for path in sorted(source.iterdir()):
        if path.suffix.lower() not in (".txt", ".md"):
            continue
        text = path.read_text(encoding="utf-8")
        found = make_document(path.name, text)
        name = f"{path.stem}.{kind}"
        WRITERS[kind](text, target / name, title=found.title, date=found.date)
        names[path.name] = name
    return names
