"""A trained cross-encoder that scores whether a sentence answers a question.

The model is all-MiniLM-L6-v2 fine-tuned on the ``train`` articles of SQuAD
v1.1/v2.0 dev (see ``qa/models/verifier/MODEL_CARD.md`` and
``benchmarks/train_verifier.py``). It reads the question and one candidate
sentence with its title and neighbours, and returns the probability that the
sentence holds the answer: a logit with a Platt scaling fitted on held-out
``train`` articles, so the best candidate's probability can drive abstention.

The head is one linear layer over the mean of the encoder's last hidden
states (the pooling MiniLM was trained with), not BERT's [CLS] pooler: with
the pooler, the model did not learn in the training budget we have.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa import onnx_models
from qa.errors import ModelMissing
from qa.text import normalize

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "models" / "verifier"
MAX_TOKENS = 128  # question + context word pieces; verifier_input clips words so the candidate fits
PREV_WORDS = 12  # the end of the previous sentence: enough to resolve "he", "it", "the city"
NEXT_WORDS = 10  # the start of the next sentence
SENTENCE_WORDS = 56  # a longer candidate is cut: its answer is nearly always early enough
QUESTION_WORDS = 40  # a longer question (a pasted paragraph) is cut, so the candidate still fits
EXPORT_RECIPE = "opset17-int8-per-channel-matmul-spans"  # the export's cache key: change it with the outputs
MAX_SPAN_PIECES = 16  # longest short answer, in word pieces
SMALL_BATCH = 32  # up to this many pairs torch runs on one thread (less contention with the app)

Context = tuple[str, str, str, str]  # (title, previous sentence, candidate sentence, next sentence)


@dataclass(frozen=True)
class Reading:
    """What the verifier made of a question's candidates, one entry per candidate."""

    logits: np.ndarray  # higher = more likely to answer the question
    phrases: tuple[str | None, ...]  # the answer phrase it marks in the candidate (normalised text), if any


def _clip(text: str, words: int, keep_end: bool = False) -> str:
    parts = normalize(text).split()
    if len(parts) <= words:
        return " ".join(parts)
    return "… " + " ".join(parts[-words:]) if keep_end else " ".join(parts[:words]) + " …"


def verifier_input(question: str, title: str, prev: str, sentence: str, next: str) -> tuple[str, str]:
    """The (first, second) text pair the verifier reads, in training and at inference.

    The candidate sits between ``>>`` and ``<<`` after the title and the end of
    the previous sentence; neighbours are clipped in words so the pair stays
    under ``MAX_TOKENS`` and the candidate itself is never truncated away.
    """
    parts = [
        f"{normalize(title)}." if title else "",
        _clip(prev, PREV_WORDS, keep_end=True),
        f">> {_clip(sentence, SENTENCE_WORDS)} <<",
        _clip(next, NEXT_WORDS),
    ]
    return _clip(question, QUESTION_WORDS), " ".join(p for p in parts if p)


class Verifier:
    """Loads the committed model lazily, once; ``score`` is safe to call from many threads.

    ``backend="onnx"`` (the default) runs an int8 ONNX export of the weights
    through ONNX Runtime, made at first use and cached under ``~/.cache/qa``
    (``QA_CACHE``); ``backend="torch"`` runs the float weights in torch.
    """

    def __init__(self, path: Path | str = MODEL_DIR, backend: str = "onnx"):
        if backend not in ("onnx", "torch"):
            raise ValueError(f"unknown verifier backend {backend!r}: use onnx or torch")
        self.path = Path(path)
        self.backend = backend
        self._lock = threading.Lock()
        self._model = None  # the torch model (backend "torch")
        self._session = None  # the ONNX Runtime session (backend "onnx")
        self._tokenizer = None
        self._spans = False  # whether the weights have a span head (short answers)
        self._scale, self._bias = 1.0, 0.0

    def _load(self) -> None:
        if self._tokenizer is not None:
            return
        if not (self.path / "model.safetensors").is_file():
            raise ModelMissing(f"no verifier model in {self.path}: run benchmarks/train_verifier.py")
        from safetensors import safe_open
        from tokenizers import Tokenizer

        # The fast tokenizer itself, as transformers' AutoTokenizer wraps it (same ids, types and offsets,
        # checked in tests/test_verifier.py), without importing transformers and torch (2.7 s of a cold start).
        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")  # odd questions run long
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        with safe_open(str(self.path / "model.safetensors"), framework="np") as weights:
            self._spans = "span.weight" in weights.keys()
        calibration = json.loads((self.path / "calibration.json").read_text())
        self._scale, self._bias = float(calibration["scale"]), float(calibration["bias"])
        if self.backend == "onnx":
            path = onnx_models.export_path("verifier", self.path / "model.safetensors", EXPORT_RECIPE)
            # one question's few pairs: one thread each, many questions at once
            self._session = onnx_models.session(path, self._exportable, ("logits", "start", "end"), threads=1)
        else:
            from qa.verifier_model import VerifierModel

            self._model = VerifierModel.load(self.path)
        self._tokenizer = tokenizer
        log.info("loaded verifier from %s (%s)", self.path, self.backend)

    def _exportable(self):
        """The torch model to export (only when the cached export is missing or damaged)."""
        from qa.verifier_model import Exportable, VerifierModel

        return Exportable(VerifierModel.load(self.path))

    def logits(self, question: str, contexts: Sequence[Context]) -> np.ndarray:
        """Raw logits, one per context (higher = more likely to answer ``question``)."""
        return self.read(question, contexts).logits

    def read(self, question: str, contexts: Sequence[Context]) -> Reading:
        """Logits and answer phrases for ``contexts`` (phrases are None for a model without a span head)."""
        if not contexts:
            return Reading(np.zeros(0, dtype=np.float32), ())
        with self._lock:
            self._load()
            pairs = [verifier_input(question, *c) for c in contexts]
            batch, offsets = self.encode(pairs)
            if self._session is None:
                logits, start, end = self._torch_read(batch, len(pairs))
        if self._session is not None:  # sessions may run from many threads at once: questions do not queue
            logits, start, end = self._session.run(None, batch)
        types = batch["token_type_ids"]
        phrases = tuple(
            answer_phrase(b, start[i], end[i], offsets[i], types[i]) if self._spans else None
            for i, (_, b) in enumerate(pairs)
        )
        return Reading(np.asarray(logits, dtype=np.float32), phrases)

    def encode(self, pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The model's inputs for (first, second) text pairs, and each word piece's character offsets."""
        self._load()
        encodings = self._tokenizer.encode_batch(list(pairs))
        batch = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return batch, np.array([e.offsets for e in encodings], dtype=np.int64)

    def _torch_read(self, batch, n: int):
        import torch

        threads = torch.get_num_threads()
        if n <= SMALL_BATCH:
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
                return tuple(t.float().numpy() for t in self._model.read(**tensors))
        finally:
            torch.set_num_threads(threads)

    def score(self, question: str, contexts: Sequence[Context]) -> np.ndarray:
        """Calibrated probabilities that each (title, prev, sentence, next) answers ``question``."""
        z = self.logits(question, contexts)
        return 1.0 / (1.0 + np.exp(-(self._scale * z + self._bias)))


def answer_phrase(
    second: str, start: np.ndarray, end: np.ndarray, offsets: np.ndarray, types: np.ndarray
) -> str | None:
    """The best-scoring span of at most ``MAX_SPAN_PIECES`` pieces inside the marked candidate of ``second``."""
    opened, closed = second.find(">> "), second.rfind(" <<")
    if opened < 0 or closed < 0:
        return None
    inside = (types == 1) & (offsets[:, 0] >= opened + 3) & (offsets[:, 1] <= closed) & (offsets[:, 1] > offsets[:, 0])
    if not inside.any():
        return None
    s = np.where(inside, start, -np.inf)
    e = np.where(inside, end, -np.inf)
    pairs = s[:, None] + e[None, :]
    n = len(s)
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_SPAN_PIECES)
    pairs = np.where(band, pairs, -np.inf)
    i, j = np.unravel_index(int(np.argmax(pairs)), pairs.shape)
    if not np.isfinite(pairs[i, j]):
        return None
    phrase = second[int(offsets[i, 0]) : int(offsets[j, 1])].strip(" ,.;:")
    return phrase or None
