"""Benchmark index builds with the torch and the int8 ONNX embedder in one run (a script, not a test).

    .venv/bin/python benchmarks/build.py [--paragraphs 400] [--repeat 1] [--quality]

Copies the first ``--paragraphs`` paragraphs of SQuAD v1.1 dev (eval/squad-v1.1-dev/corpus.jsonl)
into a temporary corpus folder as one JSON Lines file, then builds a fresh index
of it with each backend in turn (``--repeat`` times each, alternating, so the
machine's noise falls on both), through the same ``Assistant.refresh`` as
``qa index``: cleaning, chunking, entity tagging, embedding passages and
sentences, FAISS and BM25. Prints the wall time, chunks and sentences per
second of each build, and the ratio of the two backends' median times.
Models (and spaCy's pipeline) are loaded before the clock starts; the ONNX export is made then if
it is not cached yet.

With ``--quality`` (and all 2,067 paragraphs, ``--paragraphs 2067``), the last
build of each backend then retrieves for every SQuAD v1.1 question of the
``test`` articles (eval/squad-splits.json) and prints hit@1 and hit@5 in the
hybrid and the dense mode: a gold paragraph among the first k passages.
Results go to ``benchmarks/results/build.json``.

Targets from the large-collections issue: build throughput >= 3x the torch
model's; hit@5 within 0.5 points of the torch model's; a query encoded in <= 5 ms
(printed too: p50/p95 over the test questions, one at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Assistant  # noqa: E402
from qa.embed import BACKENDS, MiniLMEmbedder  # noqa: E402
from qa.entities import SpacyTagger  # noqa: E402
from qa.eval import load_questions  # noqa: E402

SQUAD = ROOT / "eval" / "squad-v1.1-dev" / "corpus.jsonl"
QUESTIONS = ROOT / "eval" / "squad-v1.1-dev" / "questions.jsonl"
SPLIT = f"{ROOT / 'eval' / 'squad-splits.json'}:test"
RESULTS = ROOT / "benchmarks" / "results" / "build.json"


def quality(assistant: Assistant, embedder: MiniLMEmbedder) -> dict:
    """hit@1 and hit@5 of the test-article questions, hybrid and dense; query encoding p50/p95."""
    questions = [q for q in load_questions(QUESTIONS, split=SPLIT).questions if q.answerable]
    out: dict = {"questions": len(questions)}
    for mode in ("hybrid", "dense"):
        hits = {1: 0, 5: 0}
        for q in questions:
            gold = {e.doc for e in q.evidence}
            docs = [h.chunk.doc for h in assistant.retrieve(q.question, k=5, mode=mode)]
            hits[1] += docs[:1] and docs[0] in gold
            hits[5] += any(d in gold for d in docs)
        out[mode] = {f"hit@{k}": round(n / len(questions), 4) for k, n in hits.items()}
    times = []
    for q in questions[:1000]:
        started = time.perf_counter()
        embedder.encode([q.question])
        times.append((time.perf_counter() - started) * 1000)
    out["query_ms"] = {f"p{p}": round(float(np.percentile(times, p)), 2) for p in (50, 95)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Index build time: torch against int8 ONNX embedder.")
    parser.add_argument("--paragraphs", type=int, default=400, help="SQuAD v1.1 dev paragraphs to index.")
    parser.add_argument("--repeat", type=int, default=1, help="Builds per backend (alternating).")
    parser.add_argument("--quality", action="store_true", help="Then hit@1/hit@5 of the test questions.")
    args = parser.parse_args()
    embedders = {backend: MiniLMEmbedder(backend=backend).load() for backend in BACKENDS}
    SpacyTagger().find(["Loaded before the clock starts, in Tokyo."])  # spaCy's pipeline, shared by all builds
    times: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    found: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="qa-build-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        with open(SQUAD, encoding="utf-8") as src, open(corpus / "squad.jsonl", "w", encoding="utf-8") as out:
            for _, line in zip(range(args.paragraphs), src, strict=False):
                out.write(line)
        for run in range(args.repeat):
            for backend, embedder in embedders.items():
                index = Path(tmp) / f"index-{backend}-{run}"
                started = time.perf_counter()
                assistant = Assistant(corpus, index, embedder=embedder)
                assistant.refresh()
                seconds = time.perf_counter() - started
                data = assistant.state.data
                chunks, sentences = len(data.chunks), len(data.sentences)
                times[backend].append(seconds)
                print(
                    f"{backend:>5} ({embedder.name}): {seconds:6.1f} s for {chunks:,} chunks and {sentences:,} "
                    f"sentences: {chunks / seconds:5.1f} chunks/s, {(chunks + sentences) / seconds:6.1f} texts/s",
                    flush=True,
                )
                if args.quality and run == args.repeat - 1:
                    found[backend] = quality(assistant, embedder)
                    print(f"{backend:>5}: {found[backend]}", flush=True)
    median = {backend: statistics.median(t) for backend, t in times.items()}
    ratio = median["torch"] / median["onnx"]
    print(f"build throughput, onnx int8 / torch: {ratio:.2f}x (load average {os.getloadavg()[0]:.1f})")
    result = {"paragraphs": args.paragraphs, "seconds": times, "ratio": round(ratio, 2), "quality": found}
    result["load_average"] = os.getloadavg()
    print(json.dumps(result))
    if args.quality:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
