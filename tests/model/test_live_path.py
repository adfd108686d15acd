"""The daemon's numpy path gives the training path's features and the default model's predictions.

The daemon reads candles as numpy `Candles` (`load_bundled_candles`, the sources, the cache) and
computes one feature row with `latest_features`; training reads the same file with pandas and
computes every row with `compute_features`. On both real data sets shipped in the package (the
cleaned copies of /work/shared/data's Binance and Coinbase exports, data/PROVENANCE.md), at
every 97th hour and around every missing hour:

- the candles the two loaders read are bit-for-bit the same;
- the features agree within 1e-12 relative, or 5e-12 absolute. Not exact, because pandas'
  rolling mean and std keep one running (compensated) sum over the whole history while the live
  path sums each window afresh: another rounding. Measured worst: 1.9e-12 absolute, on
  `vol_ratio_24h_168h` (the log of a ratio of two standard deviations: where vol_24h is tiny, the
  rounding of the running variance is magnified); every other feature within 2e-15 absolute;
- the default model's (ridge) prediction from the numpy window equals its prediction from the
  training path's feature row within 1e-12 relative (measured worst 3.3e-15).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allora_worker.candles import HOUR_NS, Candles
from allora_worker.market.bundled import load_bundled, load_bundled_candles
from allora_worker.model.bundle import load_bundle
from allora_worker.model.features import HISTORY_HOURS, compute_features, latest_features
from allora_worker.model.train import train_bundle

DATA_SETS = ("binance", "coinbase")


@pytest.fixture(scope="module")
def default_bundle(candles: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("live") / "ridge"
    train_bundle(candles.iloc[:4000], out, model="ridge", validate=False, fallback=False)
    return out


@pytest.mark.parametrize("name", DATA_SETS)
def test_the_daemon_reads_the_bundled_candles_as_training_does(name: str) -> None:
    numpy_side = load_bundled_candles(name)
    pandas_side = Candles.of(load_bundled(name))
    assert len(numpy_side) > 20_000
    np.testing.assert_array_equal(numpy_side.times, pandas_side.times)
    # Bit for bit: the same float parse of every cell, not merely close.
    np.testing.assert_array_equal(numpy_side.values.view(np.int64), pandas_side.values.view(np.int64))


def _cut_points(candles: Candles) -> list[int]:
    """Rows of every 97th hour, plus the hours just after each missing one and ~720 h later."""
    grid = np.arange(candles.times[0], candles.times[-1] + 1, HOUR_NS)
    gaps = np.setdiff1d(grid, candles.times)
    near = {int(g) + k * HOUR_NS for g in gaps for k in (*range(1, 9), *range(719, 729))}
    rows = set(range(HISTORY_HOURS, len(candles), 97))
    rows |= {int(i) for i in np.flatnonzero(np.isin(candles.times, list(near))) if i >= HISTORY_HOURS}
    return sorted(rows)


@pytest.mark.parametrize("name", DATA_SETS)
def test_numpy_features_and_prediction_equal_the_training_paths(name: str, default_bundle: Path) -> None:
    bundle = load_bundle(default_bundle)
    frame = load_bundled(name)
    training = compute_features(frame)  # what `train` computes: the whole history at once
    training_predictions = bundle.predict_features(training)
    candles = load_bundled_candles(name)
    start = candles.times[0]
    compared = predicted = 0
    for i in _cut_points(candles):
        t = int(candles.times[i])
        window = candles.between(t - (HISTORY_HOURS - 1) * HOUR_NS, t + 1)
        row = training.iloc[(t - start) // HOUR_NS]
        assert row.name == pd.Timestamp(t, tz="UTC")
        live = latest_features(window)
        np.testing.assert_allclose(live, row.to_numpy(), rtol=1e-12, atol=5e-12, err_msg=f"{name} at {row.name}")
        compared += 1
        if np.isfinite(live).all() and window.times[0] == t - (HISTORY_HOURS - 1) * HOUR_NS:
            want = training_predictions[(t - start) // HOUR_NS]
            assert bundle.predict(window) == pytest.approx(want, rel=1e-12, abs=1e-15), f"{name} at {row.name}"
            predicted += 1
    assert compared >= 200 and predicted >= 150
