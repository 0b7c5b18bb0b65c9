"""One calibrated probability per candidate sentence: logistic regression over named features.

The model is small and read from JSON (feature names, means and scales,
coefficients, the hash of its training data, its metrics): no pickle. It is
fitted by ``benchmarks/fit_confidence.py`` on the ``train`` articles of the
SQuAD splits only, where each candidate sentence is labelled by whether it
holds a gold answer (every candidate of an unanswerable question is 0).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

L2 = 1.0  # ridge penalty on the (standardised) coefficients: keeps a model of ~10 features from chasing noise
NEWTON_STEPS = 50


@dataclass(frozen=True)
class Calibrator:
    """P(a sentence answers the question) = sigmoid(w · standardised features + b)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # decline when the best sentence's probability is below this
    info: dict = field(default_factory=dict)  # training data hash, operating point, metrics

    def probability(self, x: np.ndarray) -> np.ndarray:
        """One probability per row of ``x`` (columns in ``features`` order)."""
        z = (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(z @ np.asarray(self.weights) + self.bias)

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        n = len(d["features"])
        if not (len(d["mean"]) == len(d["scale"]) == len(d["weights"]) == n):
            raise ValueError("a calibrator needs one mean, scale and weight per feature")
        return cls(
            features=tuple(d["features"]),
            mean=tuple(float(v) for v in d["mean"]),
            scale=tuple(float(v) for v in d["scale"]),
            weights=tuple(float(v) for v in d["weights"]),
            bias=float(d["bias"]),
            threshold=float(d["threshold"]),
            info=dict(d.get("info", {})),
        )

    @classmethod
    def load(cls, path: Path | str) -> Calibrator:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def fit(features: Sequence[str], x: np.ndarray, y: np.ndarray, l2: float = L2) -> Calibrator:
    """Logistic regression by Newton's method on standardised features (threshold left at 0.5)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(z @ w)
        gradient = z.T @ (p - y) + penalty * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Calibrator(
        features=tuple(features),
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(w[:-1].tolist()),
        bias=float(w[-1]),
        threshold=0.5,
        info={"data_sha256": data_hash(x, y), "rows": int(len(y)), "positives": int(y.sum())},
    )


def data_hash(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return h.hexdigest()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(z, -40, 40)))
