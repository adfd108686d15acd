from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from allora_worker.model.dataset import build_dataset, training_set
from allora_worker.model.models.base import TrainingSet
from allora_worker.model.walkforward import WalkForwardConfig, make_folds, run_walk_forward

CFG = WalkForwardConfig(horizon_hours=168, min_train_hours=2000, test_hours=720, embargo_hours=24)


@pytest.fixture(scope="module")
def data(candles: pd.DataFrame) -> TrainingSet:
    return training_set(*build_dataset(candles, 168), 168)


def test_folds_purge_the_horizon_and_embargo(data: TrainingSet) -> None:
    folds = make_folds(data.times, CFG)
    assert len(folds) >= 3
    for fold in folds:
        last_train = data.times[data.times < fold.train_end].max()
        # The last training label (close at t + 168 h) is realized before the test starts, with margin.
        assert last_train + pd.Timedelta(hours=168 + 24) < fold.test_start
    for a, b in itertools.pairwise(folds):
        assert a.test_end == b.test_start  # test folds tile the period without overlap


def test_test_labels_never_influence_their_fold(data: TrainingSet) -> None:
    """Scrambling a fold's test targets (and everything after) leaves its predictions unchanged."""
    base = run_walk_forward(data, CFG, "ridge")
    fold = base.folds[1]
    y = data.y.copy()
    later = np.asarray(data.times >= fold.test_start)
    y[later] = np.random.default_rng(0).normal(0, 1, later.sum())
    moved = run_walk_forward(TrainingSet(data.X, y, data.times, data.features, 168), CFG, "ridge")
    cols = ["ridge", "zero", "drift", "momentum", "ewma", "zptae_std"]
    first_two = base.predictions["fold"] <= 1
    pd.testing.assert_frame_equal(
        base.predictions.loc[first_two, cols], moved.predictions.loc[first_two, cols]
    )
    # Later folds did train on the changed labels, so they must differ (the check can fail).
    assert not np.allclose(
        base.predictions.loc[~first_two, "drift"], moved.predictions.loc[~first_two, "drift"]
    )


def test_baselines_are_fitted_on_training_rows_only(data: TrainingSet) -> None:
    res = run_walk_forward(data, CFG, "ridge")
    for fold in res.folds[:2]:
        train_y = data.y[np.asarray(data.times < fold.train_end)]
        part = res.predictions[res.predictions["fold"] == fold.index]
        assert part["drift"].iloc[0] == pytest.approx(train_y.mean())
        assert part["zptae_std"].iloc[0] == pytest.approx(train_y.std())
        assert (part["zero"] == 0).all()


def test_too_little_data_is_a_clear_error(data: TrainingSet) -> None:
    with pytest.raises(ValueError, match="not enough data"):
        run_walk_forward(data, WalkForwardConfig(min_train_hours=100_000), "ridge")
