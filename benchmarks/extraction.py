"""How fast the loaders read each format, and how well the two PDF libraries keep the words.

PDF: pages per second of ``qa.loaders.pdf`` (pypdf, with its line joining) and
of pdfminer.six's ``extract_text`` (the alternative the issue names, a dev
dependency), over the seed articles written as PDFs (``tests/fixture_files.py``),
the real PDFs of ``tests/data/`` and any ``--pdf`` files given. For the seed
PDFs, whose words are known, each library's words are compared with the
article's (difflib's ratio over the word sequences: 1.0 is every word, in order).
HTML and Word: documents per second over the seed articles as saved pages and
Word files, and the real saved page. Each figure is the best of ``--repeat``
rounds. Results go to ``benchmarks/results/extraction.json``.

    .venv/bin/python benchmarks/extraction.py [--pdf FILE ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.loaders import extract  # noqa: E402
from tests.fixture_files import convert_folder  # noqa: E402

DATA = ROOT / "tests/data"


def best_rate(items: list[tuple[str, bytes]], read, count, repeat: int) -> float:
    """Units (pages or documents) per second of ``read`` over ``items``, the best of ``repeat`` rounds."""
    units = sum(count(name, data) for name, data in items)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for name, data in items:
            read(name, data)
        best = min(best, time.perf_counter() - start)
    return units / best


def pdfminer_text(_: str, data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def page_count(_: str, data: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)


def word_match(text: str, source: str) -> float:
    return difflib.SequenceMatcher(None, text.split(), source.split(), autojunk=False).ratio()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pdf", nargs="*", type=Path, default=[], help="more PDF files to time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/extraction.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = {k: convert_folder(ROOT / "corpus", Path(tmp) / k, k) for k in ("pdf", "html", "docx")}
        files = {k: [(n, (Path(tmp) / k / n).read_bytes()) for n in names.values()] for k, names in seeds.items()}
    sources = {f"{Path(old).stem}.pdf": (ROOT / "corpus" / old).read_text(encoding="utf-8") for old in seeds["pdf"]}
    real_pdfs = [(p.name, p.read_bytes()) for p in sorted(DATA.glob("*.pdf")) if "password" not in p.name]
    real_pdfs += [(p.name, p.read_bytes()) for p in args.pdf]
    pdfs = files["pdf"] + real_pdfs
    html = files["html"] + [(p.name, p.read_bytes()) for p in sorted(DATA.glob("*.html"))]

    ours = lambda name, data: extract(name, data).text
    figures = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "pdf_files": [name for name, _ in pdfs],
        "pdf_pages": sum(page_count(n, d) for n, d in pdfs),
        "pdf_pages_per_s_pypdf": best_rate(pdfs, ours, page_count, args.repeat),
        "pdf_pages_per_s_pdfminer": best_rate(pdfs, pdfminer_text, page_count, args.repeat),
        "pdf_word_match_pypdf": min(word_match(ours(n, d), sources[n]) for n, d in files["pdf"]),
        "pdf_word_match_pdfminer": min(word_match(pdfminer_text(n, d), sources[n]) for n, d in files["pdf"]),
        "html_docs": len(html),
        "html_docs_per_s": best_rate(html, ours, lambda n, d: 1, args.repeat),
        "docx_docs": len(files["docx"]),
        "docx_docs_per_s": best_rate(files["docx"], ours, lambda n, d: 1, args.repeat),
    }
    for real, _ in real_pdfs:
        one = [x for x in pdfs if x[0] == real]
        figures[f"pages_per_s_pypdf:{real}"] = best_rate(one, ours, page_count, args.repeat)
        figures[f"pages_per_s_pdfminer:{real}"] = best_rate(one, pdfminer_text, page_count, args.repeat)
    for key, value in figures.items():
        print(f"{key:48} {value:.3f}" if isinstance(value, float) else f"{key:48} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    args.out.write_text(json.dumps(rounded, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
