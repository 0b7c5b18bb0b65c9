"""Benchmark a cold start on a 100,000-passage collection (a script, not a test).

    .venv/bin/python benchmarks/cold_start.py [--build] [--repeat 3]

The collection is real text: the 100,000 passages ``benchmarks/scale.py``
gathers (SQuAD v1.1/v2.0 dev paragraphs and sentences, the bundled articles'
paragraphs and sentences, docstrings and documentation of the installed
packages; ``scale.py --prepare`` writes them to ``~/.cache/qa/scale/texts.jsonl``),
one JSON Lines record each, beside the five bundled articles as ``.txt`` files.
It lives in ``~/.cache/qa/cold/corpus/`` and its index in ``~/.cache/qa/cold/index/``.

``--build`` runs ``qa index`` on it (the real pipeline: cleaning, chunking,
spaCy entities, the int8 ONNX embedder, FAISS, BM25; an interrupted build
resumes) and prints its time. Then, ``--repeat`` times each, from a new process:

- ``qa ask`` of a question about the articles, until its answer is printed;
- ``python app.py`` (as ``qa serve``), until the page is served, and until the
  first answer comes back through the ``/ask`` API.

Targets from the large-collections issue: app ready <= 10 s and a cold
``qa ask`` <= 3 s with a 100,000-chunk index. Results go to
``benchmarks/results/cold-start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from app_startup import QUESTION, one_start  # noqa: E402

HOME = Path(os.environ.get("QA_CACHE", Path.home() / ".cache" / "qa"))
TEXTS = HOME / "scale" / "texts.jsonl"
CORPUS = HOME / "cold" / "corpus"
INDEX = HOME / "cold" / "index"
RESULTS = ROOT / "benchmarks" / "results" / "cold-start.json"
QA = [str(Path(sys.executable).parent / "qa")]  # the installed command


def prepare() -> None:
    """Write the corpus folder once: the five articles and the 100,000 passages as records."""
    if (CORPUS / "passages.jsonl").exists():
        return
    if not TEXTS.exists():
        raise SystemExit(f"{TEXTS} is missing: run `.venv/bin/python benchmarks/scale.py --prepare` first")
    CORPUS.mkdir(parents=True, exist_ok=True)
    for article in sorted((ROOT / "corpus").glob("*.txt")):
        shutil.copy2(article, CORPUS / article.name)
    tmp = CORPUS / "passages.jsonl.tmp"
    with open(TEXTS, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as out:
        for n, line in enumerate(src):
            record = json.loads(line)
            out.write(json.dumps({"id": f"{record['source']}-{n}", "text": record["text"]}, ensure_ascii=False) + "\n")
    os.replace(tmp, CORPUS / "passages.jsonl")


def counts() -> dict:
    """The live build's counts and vector kinds, from its manifest."""
    build = INDEX / "builds" / (INDEX / "CURRENT").read_text().strip()
    manifest = json.loads((build / "manifest.json").read_text())
    return manifest["counts"] | {"vectors": manifest.get("vectors")}


def cold_ask() -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*QA, "ask", QUESTION, "--corpus", str(CORPUS), "--index", str(INDEX)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode or "Iwaya" not in done.stdout:
        raise SystemExit(f"qa ask failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-1500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="Cold start on a 100,000-passage collection.")
    parser.add_argument("--build", action="store_true", help="Build (or finish building) the index first.")
    parser.add_argument("--repeat", type=int, default=3, help="Cold starts of each kind.")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    prepare()
    result: dict = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.build:
        started = time.perf_counter()
        subprocess.run([*QA, "index", "--corpus", str(CORPUS), "--index", str(INDEX)], cwd=ROOT, check=True)
        result["build_s"] = round(time.perf_counter() - started, 1)
        print(f"qa index: {result['build_s']:.0f} s")
    result["index"] = counts()
    print(f"index: {result['index']}")
    asks = [cold_ask() for _ in range(args.repeat)]
    starts = [one_start(CORPUS, INDEX, timeout=600) for _ in range(args.repeat)]
    result |= {
        "qa_ask_s": [round(s, 2) for s in asks],
        "app_served_s": [round(s, 2) for s, _ in starts],
        "app_first_answer_s": [round(a, 2) for _, a in starts],
        "load_average": os.getloadavg(),
    }
    print(f"cold `qa ask`: median {statistics.median(asks):.2f} s ({', '.join(f'{s:.2f}' for s in asks)})")
    print(
        f"app: served after median {statistics.median(result['app_served_s']):.2f} s, first answer after "
        f"{statistics.median(result['app_first_answer_s']):.2f} s"
    )
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
