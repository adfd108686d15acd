"""A standalone walk-forward backtest of one model kind against the baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allora_worker.model.dataset import build_dataset, data_sha256, training_set
from allora_worker.model.metrics import Metrics
from allora_worker.model.train import decide
from allora_worker.model.walkforward import WalkForwardConfig, WalkForwardResult, run_walk_forward

# Past prediction times -> the brought model's values at them (only candles up to each time).
PredictAt = Callable[[pd.DatetimeIndex], np.ndarray]


@dataclass
class BacktestResult:
    walk_forward: WalkForwardResult
    metrics: dict[str, Metrics]
    chosen: str  # what a default bundle trained on this data would hold
    verdict: str
    data_sha256: str


def backtest(
    candles: pd.DataFrame,
    *,
    model: str = "ridge",
    horizon_hours: int = 168,
    config: WalkForwardConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    features, target = build_dataset(candles, horizon_hours)
    data = training_set(features, target, horizon_hours)
    wf = run_walk_forward(data, config or WalkForwardConfig(horizon_hours=horizon_hours), model, progress)
    metrics = wf.metrics()
    chosen, verdict = decide(metrics, model)
    return BacktestResult(wf, metrics, chosen, verdict, data_sha256(candles))


def backtest_external(
    candles: pd.DataFrame,
    predict_at: PredictAt,
    *,
    name: str = "yours",
    horizon_hours: int = 168,
    every_hours: int = 1,
    config: WalkForwardConfig | None = None,
) -> BacktestResult:
    """A model trained elsewhere (bundle, endpoint, plugin) on the same test folds as the baselines.

    The baselines are refitted per fold exactly as in `backtest`; the brought model is scored on
    the same rows (every `every_hours`-th, since each may be an HTTP request). It was trained by
    its owner on data we do not know: rows inside its own training period flatter it.
    """
    features, target = build_dataset(candles, horizon_hours)
    data = training_set(features, target, horizon_hours)
    wf = run_walk_forward(data, config or WalkForwardConfig(horizon_hours=horizon_hours), "zero")
    rows = wf.predictions.iloc[::every_hours].copy()
    rows.insert(0, name, predict_at(pd.DatetimeIndex(rows.index)))
    result = WalkForwardResult(name, horizon_hours, wf.folds, rows)
    metrics = result.metrics()
    m = metrics[name]
    beaten = [b for b in ("zero", "drift") if m.mse < metrics[b].mse and m.zptae < metrics[b].zptae]
    verdict = (f"{name} beats the zero and drift baselines out of sample on both MSE and ZPTAE."
               if len(beaten) == 2 else
               f"{name} does NOT beat the {' and '.join(b for b in ('zero', 'drift') if b not in beaten)} "
               f"baseline(s) on both MSE and ZPTAE (MSE {m.mse:.6g}, ZPTAE {m.zptae:.6g}; zero "
               f"{metrics['zero'].mse:.6g} / {metrics['zero'].zptae:.6g}).")
    return BacktestResult(result, metrics, name, verdict, data_sha256(candles))
