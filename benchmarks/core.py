"""Benchmark the core pipeline on the bundled corpus (a script, not a test).

Prints the index build time for the five articles (fresh index, model load
excluded and shown apart), question latency p50/p95 over the dev questions
with the model loaded, and the process's peak memory.

    .venv/bin/python benchmarks/core.py [--repeat 3]

Targets from the core issue: p50 <= 30 ms, p95 <= 60 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from qa import Assistant, MiniLMEmbedder
from qa.assistant import DEFAULT_CORPUS

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "dev_questions.jsonl"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark index build and question latency.")
    parser.add_argument("--repeat", type=int, default=3, help="Passes over the dev questions.")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--scorer",
        nargs="+",
        choices=("features", "verified"),
        default=["features", "verified"],
        help="Sentence scorers to time, in this order, on the same index.",
    )
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]

    started = time.perf_counter()
    embedder = MiniLMEmbedder().load()
    model_s = time.perf_counter() - started
    latencies: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scorer in args.scorer:
            assistant = Assistant(args.corpus, Path(tmp) / "index", embedder=embedder, scorer=scorer)
            if not latencies:  # the first scorer's assistant builds the index; the others load it
                started = time.perf_counter()
                report = assistant.refresh()
                build_s = time.perf_counter() - started
            assistant.load()
            assistant.ask(questions[0])  # first-call set-up (the verifier's export is cached) is not timed
            latencies[scorer] = [assistant.ask(q).latency_ms for _ in range(args.repeat) for q in questions]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model load           {model_s:6.2f} s")
    print(
        f"index build          {build_s:6.2f} s  ({report.chunks} chunks, "
        f"{report.chunks / build_s:.1f} chunks/s, sentences included)"
    )
    for scorer, times in latencies.items():  # interleaved runs would be fairer; these are back to back
        print(
            f"latency, {scorer:<9}  p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, "
            f"mean {statistics.mean(times):.1f} ms over {len(times)} questions"
        )
    print(f"peak memory (RSS)    {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
