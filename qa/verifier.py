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
from pathlib import Path

import numpy as np
import torch

from qa.errors import ModelMissing
from qa.text import normalize

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "models" / "verifier"
MAX_TOKENS = 128  # question + context word pieces; verifier_input clips words so the candidate fits
PREV_WORDS = 12  # the end of the previous sentence: enough to resolve "he", "it", "the city"
NEXT_WORDS = 10  # the start of the next sentence
SENTENCE_WORDS = 56  # a longer candidate is cut: its answer is nearly always early enough
SMALL_BATCH = 32  # up to this many pairs torch runs on one thread (less contention with the app)

Context = tuple[str, str, str, str]  # (title, previous sentence, candidate sentence, next sentence)


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
    return normalize(question), " ".join(p for p in parts if p)


class VerifierModel(torch.nn.Module):
    """MiniLM encoder, mean pooling over real tokens, a linear layer: one logit per pair."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(self.dropout(pooled))[:, 0]

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
        model = cls(encoder)
        state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        model.load_state_dict(state)
        return model.eval()


class Verifier:
    """Loads the committed model lazily, once; ``score`` is safe to call from many threads."""

    def __init__(self, path: Path | str = MODEL_DIR):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._model = None
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
        self._tokenizer, self._model = tokenizer, model
        log.info("loaded verifier from %s", self.path)

    def logits(self, question: str, contexts: Sequence[Context]) -> np.ndarray:
        """Raw logits, one per context (higher = more likely to answer ``question``)."""
        if not contexts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            self._load()
            pairs = [verifier_input(question, *c) for c in contexts]
            batch = self._tokenizer(
                [a for a, _ in pairs],
                [b for _, b in pairs],
                padding=True,
                truncation="only_second",
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            threads = torch.get_num_threads()
            if len(pairs) <= SMALL_BATCH:
                torch.set_num_threads(1)
            try:
                with torch.inference_mode():
                    out = self._model(**batch)
            finally:
                torch.set_num_threads(threads)
        return out.float().numpy()

    def score(self, question: str, contexts: Sequence[Context]) -> np.ndarray:
        """Calibrated probabilities that each (title, prev, sentence, next) answers ``question``."""
        z = self.logits(question, contexts)
        return 1.0 / (1.0 + np.exp(-(self._scale * z + self._bias)))
