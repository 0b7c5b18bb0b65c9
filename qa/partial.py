"""Vectors of an unfinished build, kept so that a build interrupted part-way resumes where it stopped.

While a build embeds, every ``BATCH`` texts' vectors are written to ``<index>/partial/`` as a NumPy
file (float32, no pickle) beside a JSON list of the texts' keys (a hash of the model name and the
text). A later build with the same model takes the vectors of texts it finds there instead of
embedding them again; a build that completes deletes the folder. A file that does not read back
as what it claims (wrong shape, type or length, a torn write) is ignored, and its texts are embedded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa.stages import Embedder

log = logging.getLogger(__name__)

BATCH = 512  # texts per saved file: a killed build loses at most this many texts' embedding


class PartialVectors:
    """The saved vectors of ``embedder``'s unfinished builds in ``folder``."""

    def __init__(self, folder: Path, embedder: Embedder):
        self.folder = folder
        self.embedder = embedder
        self._known: dict[str, np.ndarray] = {}
        self.resumed = 0  # texts whose vectors came from an interrupted build
        self._read()

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.embedder.name}\0{text}".encode()).hexdigest()[:32]

    def _read(self) -> None:
        if not self.folder.is_dir():
            return
        for keys_file in sorted(self.folder.glob("*.json")):
            try:
                keys = json.loads(keys_file.read_text())
                vectors = np.load(keys_file.with_suffix(".npy"), allow_pickle=False)
                if not (
                    isinstance(keys, list)
                    and vectors.dtype == np.float32
                    and vectors.shape == (len(keys), self.embedder.dimension)
                ):
                    raise ValueError("not the vectors its keys describe")
            except (OSError, ValueError) as exc:
                log.warning("ignoring %s from an interrupted build: %s", keys_file.name, exc)
                continue
            self._known.update(zip(map(str, keys), vectors))

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Vectors of ``texts``: those saved before are taken, the rest embedded and saved batch by batch."""
        out = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)
        keys = [self.key(t) for t in texts]
        todo = []
        for i, k in enumerate(keys):
            if k in self._known:
                out[i] = self._known[k]
            else:
                todo.append(i)
        self.resumed += len(texts) - len(todo)
        done = len(texts) - len(todo)
        if progress and done:
            progress(done, len(texts))
        for start in range(0, len(todo), BATCH):
            part = todo[start : start + BATCH]

            def step(n: int, _total: int, base: int = done) -> None:
                if progress:
                    progress(base + n, len(texts))

            vectors = self.embedder.encode([texts[i] for i in part], progress=step)
            out[part] = vectors
            self._save([keys[i] for i in part], vectors)
            done += len(part)
        return out

    def _save(self, keys: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex[:12]
        np.save(self.folder / f".{name}.npy", np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        os.replace(self.folder / f".{name}.npy", self.folder / f"{name}.npy")
        (self.folder / f".{name}.json").write_text(json.dumps(keys))
        os.replace(self.folder / f".{name}.json", self.folder / f"{name}.json")  # last: the pair is complete

    def clear(self) -> None:
        """The build is complete: nothing is left to resume."""
        shutil.rmtree(self.folder, ignore_errors=True)
