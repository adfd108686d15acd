"""A standalone walk-forward backtest of one model kind against the baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from allora_worker.model.dataset import build_dataset, data_sha256, training_set
from allora_worker.model.metrics import Metrics
from allora_worker.model.train import decide
from allora_worker.model.walkforward import WalkForwardConfig, WalkForwardResult, run_walk_forward


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
