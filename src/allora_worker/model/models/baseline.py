"""Baselines as bundle models: prediction = intercept + scale * one feature.

They are what a real model must beat, and the fallback a bundle uses when it does not.
All parameters are fitted on training rows only:

- zero: always 0 (the log-return of "no change").
- drift: the mean of the realized horizon returns in the training data.
- momentum: the last 168 h return times a shrink in [0, 1] (least squares through the
  origin, clipped: a negative or >1 fit would not be "momentum" any more).
- ewma: the 168 h-half-life EWMA of hourly returns times the horizon (its natural scale),
  times a shrink in [0, 1] fitted the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from allora_worker.model.features import EWMA_HALFLIFE
from allora_worker.model.models.base import TrainingSet

BASELINE_FORMAT = "baseline-json-v1"
BASELINE_KINDS = ("zero", "drift", "momentum", "ewma")
MOMENTUM_FEATURE = "ret_168h"
EWMA_FEATURE = f"ewma_ret_hl{EWMA_HALFLIFE}h"


@dataclass
class LinearBaseline:
    kind: str
    features: list[str]
    feature: str | None
    scale: float
    intercept: float
    format: str = BASELINE_FORMAT
    artifact_name: str = "model.json"

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype="float64")
        if self.feature is None:
            return np.full(X.shape[0], self.intercept)
        return self.intercept + self.scale * X[:, self.features.index(self.feature)]

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format,
            "kind": self.kind,
            "feature": self.feature,
            "scale": self.scale,
            "intercept": self.intercept,
        }

    def save(self, directory: Path) -> Path:
        path = directory / self.artifact_name
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, doc: dict[str, object], features: list[str]) -> LinearBaseline:
        if doc.get("format") != BASELINE_FORMAT or doc.get("kind") not in BASELINE_KINDS:
            raise ValueError("not a baseline-json-v1 document")
        feature = doc.get("feature")
        if feature is not None and feature not in features:
            raise ValueError(f"baseline reads feature {feature!r}, which the bundle does not list")
        scale, intercept = float(doc["scale"]), float(doc["intercept"])  # type: ignore[arg-type]
        if not (np.isfinite(scale) and np.isfinite(intercept)):
            raise ValueError("baseline has non-finite parameters")
        return cls(str(doc["kind"]), features, feature, scale, intercept)

    @classmethod
    def load(cls, path: Path, features: list[str]) -> LinearBaseline:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")), features)

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "feature": self.feature, "scale": self.scale, "intercept": self.intercept}


def _shrink(x: np.ndarray, y: np.ndarray, natural: float) -> float:
    """Least-squares slope through the origin, as a fraction of `natural`, clipped to [0, 1]."""
    denom = float(np.dot(x, x))
    if denom <= 0:
        return 0.0
    return natural * float(np.clip(np.dot(x, y) / denom / natural, 0.0, 1.0))


def fit_baseline(kind: str, data: TrainingSet) -> LinearBaseline:
    feats = list(data.features)
    if kind == "zero":
        return LinearBaseline(kind, feats, None, 0.0, 0.0)
    if kind == "drift":
        return LinearBaseline(kind, feats, None, 0.0, float(np.mean(data.y)))
    if kind == "momentum":
        x = data.X[:, feats.index(MOMENTUM_FEATURE)]
        return LinearBaseline(kind, feats, MOMENTUM_FEATURE, _shrink(x, data.y, 1.0), 0.0)
    if kind == "ewma":
        x = data.X[:, feats.index(EWMA_FEATURE)]
        return LinearBaseline(kind, feats, EWMA_FEATURE, _shrink(x, data.y, float(data.horizon_hours)), 0.0)
    raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINE_KINDS}")
