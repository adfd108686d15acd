"""Joins features and target into the rows a model trains and is evaluated on."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from allora_worker.model.features import FEATURE_NAMES, compute_features
from allora_worker.model.models.base import TrainingSet
from allora_worker.model.target import make_target


def build_dataset(candles: pd.DataFrame, horizon_hours: int) -> tuple[pd.DataFrame, pd.Series]:
    """(features, target) on the hourly grid; rows may hold NaN (callers filter)."""
    return compute_features(candles), make_target(candles, horizon_hours)


def usable_rows(features: pd.DataFrame, target: pd.Series) -> np.ndarray:
    """Mask of rows with every feature finite and a realized target."""
    mask: np.ndarray = (np.isfinite(features.to_numpy()).all(axis=1) & np.isfinite(target.to_numpy())).astype(bool)
    return mask


def training_set(features: pd.DataFrame, target: pd.Series, horizon_hours: int) -> TrainingSet:
    mask = usable_rows(features, target)
    return TrainingSet(
        X=features.to_numpy()[mask],
        y=target.to_numpy()[mask],
        times=pd.DatetimeIndex(features.index[mask]),
        features=list(FEATURE_NAMES),
        horizon_hours=horizon_hours,
    )


def data_sha256(candles: pd.DataFrame) -> str:
    """Hash of the candle values themselves, independent of the file format they came from."""
    digest = hashlib.sha256()
    digest.update(candles.index.asi8.astype("<i8").tobytes())
    for col in ("open", "high", "low", "close", "volume"):
        digest.update(np.ascontiguousarray(candles[col].to_numpy(dtype="<f8")).tobytes())
    return digest.hexdigest()
