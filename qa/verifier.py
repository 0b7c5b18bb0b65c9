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
import torch

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


GT, LT = 1028, 1026  # word-piece ids of ">" and "<" in MiniLM's (BERT uncased) vocabulary


def candidate_mask(input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
    """1 on the candidate's own word pieces (between ``>>`` and ``<<``), else 0.

    Pooling only these makes the logit describe the marked sentence, read in
    context: pooled over the whole input, the sentence just before an answer
    scored as high as the answer itself, because the answer sat in its context.
    A row whose markers were cut off falls back to all its real tokens.
    """
    second = token_type_ids.bool() if token_type_ids is not None else torch.ones_like(input_ids, dtype=torch.bool)
    gt, lt = (input_ids == GT) & second, (input_ids == LT) & second
    opens = torch.zeros_like(gt)
    opens[:, 2:] = gt[:, :-2] & gt[:, 1:-1]  # first piece after ">>"
    started = opens.long().cumsum(1) > 0
    closes = torch.zeros_like(lt)
    closes[:, :-1] = lt[:, :-1] & lt[:, 1:] & started[:, :-1]  # the first "<" of "<<"
    span = (started & ~(closes.long().cumsum(1) > 0) & attention_mask.bool()).long()
    empty = (span.sum(1, keepdim=True) == 0).long()
    return span + empty * attention_mask.long()  # arithmetic, not torch.where: ONNX Runtime lacks Where on bool


class VerifierModel(torch.nn.Module):
    """MiniLM encoder, mean pooling over the candidate's word pieces, a linear layer: one logit per pair.

    With ``spans`` a second linear layer gives each word piece of the candidate a start and an end
    logit: where in the sentence the answer phrase lies (the short answer). Pieces outside the
    candidate get ``-1e4``, so a span never leaves the sentence.
    """

    def __init__(self, encoder, spans: bool = True):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)
        self.span = torch.nn.Linear(encoder.config.hidden_size, 2) if spans else None

    def read(self, input_ids, attention_mask, token_type_ids=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logit per pair, start logits, end logits per word piece); zeros for a model without spans."""
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = candidate_mask(input_ids, attention_mask, token_type_ids).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        logit = self.head(self.dropout(pooled))[:, 0]
        if self.span is None:
            zeros = torch.zeros_like(input_ids, dtype=hidden.dtype)
            return logit, zeros, zeros
        ends = self.span(self.dropout(hidden)) + (mask - 1.0) * 1e4  # arithmetic masking (ONNX-friendly)
        return logit, ends[..., 0], ends[..., 1]

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.read(input_ids, attention_mask, token_type_ids)[0]

    def save(self, folder: Path) -> None:
        """config.json and float16 model.safetensors (encoder weights under ``encoder.``, and ``head.``)."""
        from safetensors.torch import save_file

        self.encoder.config.save_pretrained(folder)
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})

    @classmethod
    def load(cls, folder: Path) -> VerifierModel:
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        encoder = AutoModel.from_config(
            AutoConfig.from_pretrained(str(folder), local_files_only=True), add_pooling_layer=False
        )
        state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        model = cls(encoder, spans="span.weight" in state)
        model.load_state_dict(state)
        return model.eval()


class _Exportable(torch.nn.Module):
    """Positional inputs for ``torch.onnx.export`` (transformers 5's BERT takes keywords only)."""

    def __init__(self, model: VerifierModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model.read(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)


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
        self._model = None
        self._session = None
        self._tokenizer = None
        self._scale, self._bias = 1.0, 0.0

    def _load(self) -> None:
        if self._model is not None:
            return
        if not (self.path / "model.safetensors").is_file():
            raise ModelMissing(f"no verifier model in {self.path}: run benchmarks/train_verifier.py")
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        model = VerifierModel.load(self.path)
        calibration = json.loads((self.path / "calibration.json").read_text())
        self._scale, self._bias = float(calibration["scale"]), float(calibration["bias"])
        if self.backend == "onnx":
            self._session = self._onnx_session(model)
        self._tokenizer, self._model = tokenizer, model
        log.info("loaded verifier from %s (%s)", self.path, self.backend)

    def _onnx_session(self, model: VerifierModel):
        path = onnx_models.export_path("verifier", self.path / "model.safetensors", EXPORT_RECIPE)
        # one question's few pairs: one thread each, many questions at once
        return onnx_models.session(path, lambda: _Exportable(model), ("logits", "start", "end"), threads=1)

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
            batch = self._tokenizer(
                [a for a, _ in pairs],
                [b for _, b in pairs],
                padding=True,
                truncation="longest_first",  # a question of odd word pieces may still be long
                max_length=MAX_TOKENS,
                return_tensors="pt",
                return_offsets_mapping=True,
            )
            offsets = batch.pop("offset_mapping").numpy()
            if self._session is None:
                logits, start, end = self._torch_read(batch, len(pairs))
        if self._session is not None:  # sessions may run from many threads at once: questions do not queue
            logits, start, end = self._session.run(None, {k: v.numpy() for k, v in batch.items()})
        types = batch["token_type_ids"].numpy()
        phrases = tuple(
            answer_phrase(b, start[i], end[i], offsets[i], types[i]) if self._model.span is not None else None
            for i, (_, b) in enumerate(pairs)
        )
        return Reading(np.asarray(logits, dtype=np.float32), phrases)

    def _torch_read(self, batch, n: int):
        threads = torch.get_num_threads()
        if n <= SMALL_BATCH:
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return tuple(t.float().numpy() for t in self._model.read(**batch))
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
