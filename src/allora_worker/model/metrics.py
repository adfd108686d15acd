"""Out-of-sample scores: MSE, MAE, directional accuracy (with a CI), Pearson r, ZPTAE.

Rows are hourly but the target spans `horizon` hours, so consecutive rows share 167/168 of
their outcome. The confidence interval of directional accuracy therefore uses the effective
sample rows / horizon (independent 7-day periods), not the row count, which would overstate
certainty by a factor of ~13.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from allora_worker.model.losses import zptae


@dataclass(frozen=True)
class Metrics:
    rows: int
    effective_n: float
    mse: float
    mae: float
    directional_accuracy: float
    da_ci_low: float
    da_ci_high: float
    pearson: float  # NaN for constant predictions (zero, drift): correlation is undefined
    zptae: float

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def wilson_interval(p: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed on n (possibly fractional) trials."""
    if n <= 0 or not math.isfinite(p):
        return (math.nan, math.nan)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def zptae_mean(y: np.ndarray, pred: np.ndarray, std: float | np.ndarray) -> float:
    """Mean ZPTAE (the topic's loss, model/losses.py, the SDK reputer's), with a per-row or single scale.

    The scale must come from TRAINING targets only; a per-row array carries each walk-forward
    fold's own training std.
    """
    return float(np.mean(zptae(y, pred, std))) if len(y) else math.nan


def directional_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of rows where the predicted sign matches the realized sign.

    A prediction of exactly 0 makes no call and scores 1/2 (a coin flip's expectation), so the
    zero baseline sits at 0.5 instead of at 0 or undefined.
    """
    hits = np.where(pred == 0, 0.5, (np.sign(pred) == np.sign(y)).astype("float64"))
    return float(np.mean(hits)) if len(hits) else math.nan


def pearson(y: np.ndarray, pred: np.ndarray) -> float:
    # ptp, not std: the std of a constant array can come out as 1e-18 instead of 0.
    if len(y) < 2 or np.ptp(pred) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(y, pred)[0, 1])


def compute_metrics(
    y: np.ndarray, pred: np.ndarray, *, horizon_hours: int, zptae_std: float | np.ndarray
) -> Metrics:
    y = np.asarray(y, dtype="float64")
    pred = np.asarray(pred, dtype="float64")
    if y.shape != pred.shape:
        raise ValueError("y and pred must have the same shape")
    err = pred - y
    da = directional_accuracy(y, pred)
    n_eff = len(y) / horizon_hours
    low, high = wilson_interval(da, n_eff)
    return Metrics(
        rows=len(y),
        effective_n=n_eff,
        mse=float(np.mean(err**2)) if len(y) else math.nan,
        mae=float(np.mean(np.abs(err))) if len(y) else math.nan,
        directional_accuracy=da,
        da_ci_low=low,
        da_ci_high=high,
        pearson=pearson(y, pred),
        zptae=zptae_mean(y, pred, zptae_std),
    )
