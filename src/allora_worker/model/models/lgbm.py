"""LightGBM gradient-boosted trees, stored in LightGBM's native text format (no pickle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allora_worker.model.models.base import TrainingSet

if TYPE_CHECKING:
    import lightgbm as lgb

LGBM_FORMAT = "lightgbm-text-v1"
MAX_ROUNDS = 400
SINGLE_THREAD_ROWS = 64  # up to this many rows, predict on the calling thread (see predict)
# Shallow trees, big leaves and strong subsampling: the target is mostly noise and the rows
# overlap by 167/168, so the effective sample is tiny; anything richer memorizes the past.
PARAMS: dict[str, object] = {
    "objective": "regression",
    "learning_rate": 0.03,
    "num_leaves": 8,
    "max_depth": 3,
    "min_data_in_leaf": 400,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "verbose": -1,
}


@dataclass
class LightGBMModel:
    features: list[str]
    booster: lgb.Booster
    rounds: int
    format: str = LGBM_FORMAT
    kind: str = "lightgbm"
    artifact_name: str = "model.lgb.txt"
    _text: str = field(default="", repr=False)

    @classmethod
    def fit(cls, data: TrainingSet) -> LightGBMModel:
        import lightgbm as lgb  # lazily: only LightGBM bundles pay for the library

        rounds = _choose_rounds(data)
        booster = lgb.train(PARAMS, lgb.Dataset(data.X, data.y, feature_name=list(data.features)), rounds)
        return cls(list(data.features), booster, rounds)

    def predict(self, X: np.ndarray) -> np.ndarray:
        rows = np.asarray(X, dtype="float64")
        # A live prediction is one row: LightGBM's OpenMP team costs ~4 ms to wake on a busy 2-core
        # host (0.02 ms on one thread), and splits nothing. Batches (backtests) keep the threads.
        if rows.shape[0] <= SINGLE_THREAD_ROWS:
            return np.asarray(self.booster.predict(rows, num_threads=1), dtype="float64")
        return np.asarray(self.booster.predict(rows), dtype="float64")

    def save(self, directory: Path) -> Path:
        path = directory / self.artifact_name
        self.booster.save_model(str(path))
        return path

    @classmethod
    def load(cls, path: Path, features: list[str]) -> LightGBMModel:
        import lightgbm as lgb  # lazily: only LightGBM bundles pay for the library

        booster = lgb.Booster(model_file=str(path))
        if booster.feature_name() != features:
            raise ValueError(f"{path.name} was fitted on other features than the manifest lists")
        return cls(features, booster, booster.current_iteration())

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "rounds": self.rounds}


def _choose_rounds(data: TrainingSet) -> int:
    import lightgbm as lgb  # lazily: only LightGBM bundles pay for the library

    """Boosting rounds by early stopping on a purged holdout inside the TRAINING data."""
    split = data.inner_split()
    if split is None:
        return 100
    fit, val = split
    train_set = lgb.Dataset(fit.X, fit.y, feature_name=list(data.features))
    val_set = lgb.Dataset(val.X, val.y, reference=train_set)
    booster = lgb.train(
        PARAMS,
        train_set,
        MAX_ROUNDS,
        valid_sets=[val_set],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return max(10, int(booster.best_iteration or MAX_ROUNDS))
