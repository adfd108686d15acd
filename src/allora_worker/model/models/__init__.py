"""Model formats a bundle can hold, each stored without pickle.

Every model maps a feature matrix (columns in the bundle's `features` order) to predictions
of the horizon log-return. `fit_model` trains one kind; `load_model` rebuilds one from its
artifact by the format string recorded in the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from allora_worker.model.models.base import Model, TrainingSet
from allora_worker.model.models.baseline import BASELINE_FORMAT, BASELINE_KINDS, LinearBaseline, fit_baseline
from allora_worker.model.models.lgbm import LGBM_FORMAT, LightGBMModel
from allora_worker.model.models.onnx import ONNX_FORMAT, OnnxModel
from allora_worker.model.models.ridge import RIDGE_FORMAT, RidgeModel

MODEL_KINDS = ("ridge", "lightgbm")


def fit_model(kind: str, data: TrainingSet) -> Model:
    """Train a model of `kind` (ridge, lightgbm, or a baseline name) on `data`."""
    if kind == "ridge":
        return RidgeModel.fit(data)
    if kind == "lightgbm":
        return LightGBMModel.fit(data)
    if kind in BASELINE_KINDS:
        return fit_baseline(kind, data)
    raise ValueError(f"unknown model kind {kind!r}; choose one of {[*MODEL_KINDS, *BASELINE_KINDS]}")


def load_model(fmt: str, artifact: Path, features: list[str], info: dict[str, Any] | None = None) -> Model:
    """Rebuild a model from its artifact file; `fmt` and `info` come from the manifest."""
    if fmt == ONNX_FORMAT:
        return OnnxModel.load(artifact, features, info or {})
    if fmt == RIDGE_FORMAT:
        return RidgeModel.load(artifact, features)
    if fmt == LGBM_FORMAT:
        return LightGBMModel.load(artifact, features)
    if fmt == BASELINE_FORMAT:
        return LinearBaseline.load(artifact, features)
    raise ValueError(f"unknown model format {fmt!r}")


__all__ = [
    "BASELINE_KINDS",
    "MODEL_KINDS",
    "LinearBaseline",
    "Model",
    "TrainingSet",
    "fit_model",
    "load_model",
]
