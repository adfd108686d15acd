"""Walk-forward validation: expanding training window, purge + embargo, rolling test folds.

For a test fold starting at T, training rows are those with t < T - purge - embargo, where the
purge is the horizon: the label of row t uses the close at t + horizon, so any later row's
label would overlap the test period. The embargo adds a margin for the features' own serial
dependence. Every parameter (model weights, alpha, boosting rounds, baseline scales, the
ZPTAE scale) is fitted on the fold's training rows only. The test folds are used for one
choice, outside this module: `train.decide` picks the bundled kind (the model or a baseline) from
their metrics, so the chosen kind's fold metrics are optimistic (docs/MODEL.md says how much).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allora_worker.model.metrics import Metrics, compute_metrics
from allora_worker.model.models import BASELINE_KINDS, TrainingSet, fit_model

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class WalkForwardConfig:
    horizon_hours: int = 168
    min_train_hours: int = 365 * 24
    test_hours: int = 90 * 24
    embargo_hours: int = 24

    @property
    def purge_hours(self) -> int:
        return self.horizon_hours


@dataclass(frozen=True)
class Fold:
    index: int
    train_end: pd.Timestamp  # training rows have open_time < train_end
    test_start: pd.Timestamp
    test_end: pd.Timestamp  # test rows have test_start <= open_time < test_end


@dataclass
class WalkForwardResult:
    model_kind: str
    horizon_hours: int
    folds: list[Fold]
    # index: open_time; columns: y, fold, zptae_std, <model_kind>, zero, drift, momentum, ewma
    predictions: pd.DataFrame

    @property
    def columns(self) -> list[str]:
        return [self.model_kind, *BASELINE_KINDS]

    def metrics(self) -> dict[str, Metrics]:
        p = self.predictions
        return {
            name: compute_metrics(
                p["y"].to_numpy(),
                p[name].to_numpy(),
                horizon_hours=self.horizon_hours,
                zptae_std=p["zptae_std"].to_numpy(),
            )
            for name in self.columns
        }


def make_folds(times: pd.DatetimeIndex, cfg: WalkForwardConfig) -> list[Fold]:
    if len(times) == 0:
        return []
    gap = pd.Timedelta(hours=cfg.purge_hours + cfg.embargo_hours)
    start = times[0] + pd.Timedelta(hours=cfg.min_train_hours) + gap
    folds: list[Fold] = []
    while start <= times[-1]:
        end = start + pd.Timedelta(hours=cfg.test_hours)
        folds.append(Fold(len(folds), start - gap, start, end))
        start = end
    return folds


def run_walk_forward(
    data: TrainingSet,
    cfg: WalkForwardConfig,
    model_kind: str = "ridge",
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardResult:
    """Out-of-sample predictions of `model_kind` and every baseline, fold by fold."""
    if data.horizon_hours != cfg.horizon_hours:
        raise ValueError("training set and walk-forward config disagree on the horizon")
    folds = make_folds(data.times, cfg)
    if not folds:
        raise ValueError(
            f"not enough data for walk-forward: need more than {cfg.min_train_hours} hours of usable rows "
            f"plus {cfg.purge_hours + cfg.embargo_hours} hours of purge and embargo"
        )
    parts: list[pd.DataFrame] = []
    for i, fold in enumerate(folds):
        train = data.subset(np.asarray(data.times < fold.train_end))
        test = data.subset(np.asarray((data.times >= fold.test_start) & (data.times < fold.test_end)))
        if len(test.y) and len(train.y) >= 100:
            part = pd.DataFrame({"y": test.y, "fold": fold.index}, index=test.times)
            part["zptae_std"] = float(np.std(train.y))
            for kind in (model_kind, *BASELINE_KINDS):
                part[kind] = fit_model(kind, train).predict(test.X)
            parts.append(part)
        if progress is not None:
            progress(i + 1, len(folds))
    if not parts:
        raise ValueError("walk-forward produced no test rows")
    return WalkForwardResult(model_kind, cfg.horizon_hours, folds, pd.concat(parts))
