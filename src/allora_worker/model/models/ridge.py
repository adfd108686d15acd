"""Ridge regression on standardized features, stored as plain JSON (no pickle).

scikit-learn fits it; serving needs only numpy: (x - mean) / scale @ coef + intercept,
which is exactly what sklearn's StandardScaler + Ridge compute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allora_worker.model.models.base import TrainingSet

if TYPE_CHECKING:
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

RIDGE_FORMAT = "ridge-json-v1"
# Strength relative to row count: sklearn's penalty is alpha*|w|^2 against a SUM of squared
# errors, so with ~30k heavily overlapping rows only large alphas regularize much. The top of
# the grid shrinks almost to the mean (the drift baseline), so ridge can always choose that.
ALPHA_GRID = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)


@dataclass
class RidgeModel:
    features: list[str]
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    alpha: float
    format: str = RIDGE_FORMAT
    kind: str = "ridge"
    artifact_name: str = "model.json"

    @classmethod
    def fit(cls, data: TrainingSet) -> RidgeModel:
        alpha = _choose_alpha(data)
        scaler, ridge = _fit(data, alpha)
        return cls(
            features=list(data.features),
            coef=np.asarray(ridge.coef_, dtype="float64"),
            intercept=float(ridge.intercept_),
            mean=np.asarray(scaler.mean_, dtype="float64"),
            scale=np.asarray(scaler.scale_, dtype="float64"),
            alpha=alpha,
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        predicted: np.ndarray = ((np.asarray(X, dtype="float64") - self.mean) / self.scale) @ self.coef + self.intercept
        return predicted

    def save(self, directory: Path) -> Path:
        path = directory / self.artifact_name
        doc = {
            "format": self.format,
            "features": self.features,
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "scaler_mean": self.mean.tolist(),
            "scaler_scale": self.scale.tolist(),
            "alpha": self.alpha,
        }
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path, features: list[str]) -> RidgeModel:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != RIDGE_FORMAT:
            raise ValueError(f"{path.name} is not a {RIDGE_FORMAT} artifact")
        if doc["features"] != features:
            raise ValueError(f"{path.name} was fitted on other features than the manifest lists")
        arrays = [np.asarray(doc[k], dtype="float64") for k in ("coef", "scaler_mean", "scaler_scale")]
        if any(a.shape != (len(features),) for a in arrays):
            raise ValueError(f"{path.name}: coefficient vectors do not match {len(features)} features")
        if not all(np.all(np.isfinite(a)) for a in arrays) or np.any(arrays[2] <= 0):
            raise ValueError(f"{path.name}: non-finite coefficients or non-positive scales")
        return cls(features, arrays[0], float(doc["intercept"]), arrays[1], arrays[2], float(doc["alpha"]))

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "alpha": self.alpha}


def _fit(data: TrainingSet, alpha: float) -> tuple[StandardScaler, Ridge]:
    # Imported here: a daemon that only predicts from the JSON never pays for scikit-learn.
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(data.X)
    # A constant column has scale 0; sklearn sets it to 1, which keeps serving finite.
    ridge = Ridge(alpha=alpha).fit(scaler.transform(data.X), data.y)
    return scaler, ridge


def _choose_alpha(data: TrainingSet) -> float:
    """Alpha with the lowest MSE on a purged holdout at the end of the TRAINING data."""
    split = data.inner_split()
    if split is None:
        return ALPHA_GRID[-1]
    fit, val = split
    best_alpha, best_mse = ALPHA_GRID[-1], np.inf
    for alpha in ALPHA_GRID:
        scaler, ridge = _fit(fit, alpha)
        mse = float(np.mean((ridge.predict(scaler.transform(val.X)) - val.y) ** 2))
        if mse < best_mse:
            best_alpha, best_mse = alpha, mse
    return best_alpha
