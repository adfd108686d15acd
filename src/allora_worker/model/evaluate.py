"""Scoring a saved bundle on any candle file, against the baselines, from a date on.

Rows before `start` serve only as feature history. Baselines and the ZPTAE scale come from
the bundle's manifest (fitted on the bundle's own training data), so the comparison is the
one the bundle was trained to win; a legacy bundle without them gets baselines fitted on the
file's rows before `start`, purged by the horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allora_worker.model.bundle import LoadedBundle
from allora_worker.model.dataset import build_dataset, training_set, usable_rows
from allora_worker.model.errors import BundleError
from allora_worker.model.features import FEATURE_NAMES, HISTORY_HOURS
from allora_worker.model.metrics import Metrics, compute_metrics
from allora_worker.model.models import BASELINE_KINDS, LinearBaseline, fit_model
from allora_worker.model.predictors import Predictor


@dataclass
class Evaluation:
    rows: int
    start: pd.Timestamp
    end: pd.Timestamp | None
    metrics: dict[str, Metrics]  # "model" plus each baseline
    predictions: pd.DataFrame  # y, model, zero, drift, momentum, ewma


def _utc(value: pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def evaluate_bundle(
    bundle: LoadedBundle,
    candles: pd.DataFrame,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str | None = None,
) -> Evaluation:
    """Metrics of the bundle and the baselines on rows with start <= open_time < end."""
    lo = _utc(start)
    hi = _utc(end) if end is not None else None
    horizon = bundle.horizon_hours
    features, target = build_dataset(candles, horizon)
    in_range = (features.index >= lo) & (features.index < hi if hi is not None else True)
    mask = usable_rows(features, target) & np.asarray(in_range)
    if not mask.any():
        raise BundleError(
            f"no rows to evaluate between {lo} and {hi or 'the end'}: each row needs "
            f"{bundle.history_hours} hours of history before it and {horizon} hours of future after it"
        )
    X = features.loc[mask]
    y = target.to_numpy()[mask]
    baselines, std = _baselines(bundle, features, target, lo)
    return _scored(X, y, bundle.predict_features(X), baselines, std, horizon, (lo, hi))


def evaluate_predictor(
    predictor: Predictor,
    candles: pd.DataFrame,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str | None = None,
    *,
    horizon_hours: int = 168,
    every_hours: int = 24,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Metrics of any predictor (endpoint, plugin) and the baselines, one prediction per `every_hours`.

    Each prediction sees only the candles up to its own hour (the window the daemon would have
    handed it), and an endpoint is asked through its replay (`?at=`). Baselines are fitted on
    the file's rows before `start` whose labels were realized before it.
    """
    lo = _utc(start)
    hi = _utc(end) if end is not None else None
    features, target = build_dataset(candles, horizon_hours)
    in_range = (features.index >= lo) & (features.index < hi if hi is not None else True)
    mask = usable_rows(features, target) & np.asarray(in_range)
    times = features.index[mask][::every_hours]
    if len(times) == 0:
        raise BundleError(f"no rows to evaluate between {lo} and {hi or 'the end'} (each needs "
                          f"{HISTORY_HOURS} hours of history before it and {horizon_hours} after it)")
    values = predict_history(predictor, candles, pd.DatetimeIndex(times), progress)
    X = features.loc[times]
    y = target.loc[times].to_numpy()
    baselines, std = _fit_baselines(features, target, lo, horizon_hours)
    return _scored(X, y, values, baselines, std, horizon_hours, (lo, hi))


def _scored(
    X: pd.DataFrame,
    y: np.ndarray,
    model: np.ndarray,
    baselines: dict[str, LinearBaseline],
    std: float,
    horizon: int,
    span: tuple[pd.Timestamp, pd.Timestamp | None],
) -> Evaluation:
    """The model's predictions beside each baseline's on the same rows, and the metrics of each."""
    preds = pd.DataFrame({"y": y, "model": model}, index=X.index)
    for kind in BASELINE_KINDS:
        preds[kind] = baselines[kind].predict(X[FEATURE_NAMES].to_numpy())
    metrics = {
        name: compute_metrics(y, preds[name].to_numpy(), horizon_hours=horizon, zptae_std=std)
        for name in ("model", *BASELINE_KINDS)
    }
    return Evaluation(len(y), span[0], span[1], metrics, preds)


def predict_history(
    predictor: Predictor,
    candles: pd.DataFrame,
    times: pd.DatetimeIndex,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The predictor's value at each of `times`, from the candles up to that hour only."""
    hours = max(predictor.history_hours, 1)
    replay = getattr(predictor, "replay", None)
    values = []
    for i, t in enumerate(times):
        window = candles.loc[t - pd.Timedelta(hours=hours - 1) : t]
        values.append(replay(window, t) if callable(replay) else predictor.predict(window))
        if progress is not None:
            progress(i + 1, len(times))
    return np.asarray(values, dtype="float64")


def _baselines(
    bundle: LoadedBundle, features: pd.DataFrame, target: pd.Series, start: pd.Timestamp
) -> tuple[dict[str, LinearBaseline], float]:
    stored = bundle.manifest.get("baselines")
    if stored and bundle.manifest.get("target_std"):
        fitted = {k: LinearBaseline.from_json(stored[k], list(FEATURE_NAMES)) for k in BASELINE_KINDS}
        return fitted, float(bundle.manifest["target_std"])
    return _fit_baselines(features, target, start, bundle.horizon_hours)


def _fit_baselines(
    features: pd.DataFrame, target: pd.Series, start: pd.Timestamp, horizon: int
) -> tuple[dict[str, LinearBaseline], float]:
    # No stored baselines: fit on the file's history before `start`, labels realized before it.
    cut = start - pd.Timedelta(hours=horizon)
    before = features.index < cut
    data = training_set(features.loc[before], target.loc[before], horizon)
    if len(data.y) < 100:
        raise BundleError("no stored baselines, and the file has too little history before --from to fit them")
    return {k: fit_model(k, data) for k in BASELINE_KINDS}, float(np.std(data.y))  # type: ignore[misc]
