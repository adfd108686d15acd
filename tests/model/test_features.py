from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allora_worker.market.bundled import load_bundled
from allora_worker.model.features import FEATURE_NAMES, HISTORY_HOURS, compute_features, latest_features
from allora_worker.model.target import make_target


def _assert_same(a: pd.Series | pd.DataFrame, b: pd.Series | pd.DataFrame) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-9, atol=1e-12)


def test_columns_are_the_documented_list(candles: pd.DataFrame) -> None:
    feats = compute_features(candles)
    assert list(feats.columns) == FEATURE_NAMES
    assert len(feats) == len(pd.date_range(candles.index[0], candles.index[-1], freq="h"))


def test_live_features_equal_historical_features(candles: pd.DataFrame) -> None:
    """Train/serve parity: the window the live path sees gives the same row as full history."""
    full = compute_features(candles)
    for t in candles.index[[HISTORY_HOURS + 5, 2000, 3333, -1]]:
        window = candles.loc[t - pd.Timedelta(hours=HISTORY_HOURS - 1) : t]
        live = compute_features(window).iloc[-1]
        assert np.isfinite(live.to_numpy()).all()
        _assert_same(live, full.loc[t])
        # Any longer prefix ending at t gives the same row too.
        _assert_same(compute_features(candles.loc[:t]).iloc[-1], full.loc[t])


def test_shorter_history_than_needed_is_nan_not_wrong(candles: pd.DataFrame) -> None:
    t = candles.index[3000]
    short = compute_features(candles.loc[t - pd.Timedelta(hours=HISTORY_HOURS - 100) : t]).iloc[-1]
    assert np.isnan(short["ret_720h"]) and np.isnan(short["vol_720h"])


def test_no_feature_reads_the_future(candles: pd.DataFrame) -> None:
    """Scrambling every candle after t leaves every feature at or before t unchanged."""
    t = candles.index[3000]
    rng = np.random.default_rng(0)
    perturbed = candles.copy()
    after = perturbed.index > t
    perturbed.loc[after, :] = perturbed.loc[after, :].to_numpy() * rng.uniform(0.5, 1.5, (after.sum(), 5))
    base = compute_features(candles).loc[:t]
    moved = compute_features(perturbed).loc[:t]
    pd.testing.assert_frame_equal(base, moved)
    # ...and the perturbation did reach the features after t (the test can fail).
    assert not np.allclose(
        compute_features(candles).loc[t:].iloc[1:50].to_numpy(),
        compute_features(perturbed).loc[t:].iloc[1:50].to_numpy(),
        equal_nan=True,
    )


def test_a_missing_hour_is_nan_and_short_windows_after_it_too(candles: pd.DataFrame) -> None:
    gone = candles.index[3000]
    feats = compute_features(candles.drop(index=gone))
    assert feats.loc[gone].isna().all()  # no candle, no prediction
    after = feats.loc[gone + pd.Timedelta(hours=1)]
    assert np.isnan(after["ret_1h"]) and np.isnan(after["ret_4h"])
    # One missing hour is well within 5% of a 720 h window: long features stay usable.
    assert np.isfinite(after["ret_720h"]) and np.isfinite(after["vol_720h"])


def test_a_long_gap_makes_long_windows_nan(candles: pd.DataFrame) -> None:
    start = candles.index[2500]
    gap = pd.date_range(start, periods=48, freq="h", tz="UTC")
    feats = compute_features(candles.drop(index=gap))
    row = feats.loc[start + pd.Timedelta(hours=200)]
    assert np.isnan(row["vol_720h"]) and np.isnan(row["ret_720h"])  # 48 > 5% of 720
    assert np.isfinite(row["ret_24h"])  # the gap is outside this window


def test_rejects_naive_or_unsorted_frames(candles: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        compute_features(candles.tz_localize(None))
    with pytest.raises(ValueError, match="sorted"):
        compute_features(candles.iloc[::-1])


def test_target_is_forward_log_return(candles: pd.DataFrame) -> None:
    y = make_target(candles, 168)
    t = candles.index[100]
    expected = np.log(candles["close"].loc[t + pd.Timedelta(hours=168)] / candles["close"].loc[t])
    assert y.loc[t] == pytest.approx(expected, rel=1e-12)
    assert y.iloc[-168:].isna().all() and np.isfinite(y.iloc[-169])
    gone = candles.index[500]
    y_gap = make_target(candles.drop(index=gone), 24)
    assert np.isnan(y_gap.loc[gone - pd.Timedelta(hours=24)])  # labels are never invented


def _window(candles: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    return candles.loc[t - pd.Timedelta(hours=HISTORY_HOURS - 1) : t]


def _assert_latest_is_last_row(window: pd.DataFrame) -> None:
    # Same NaN cells, and the same values up to summation order (~1e-15 relative; 1e-10 here
    # leaves room for log(vol24/vol168) near zero, where relative error is magnified).
    np.testing.assert_allclose(latest_features(window), compute_features(window).iloc[-1].to_numpy(),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("name", "has_gaps"), [("binance", True), ("coinbase", False)])
def test_latest_features_equal_the_frame_on_the_real_data(name: str, has_gaps: bool) -> None:
    """The live path's one-row features against compute_features, on both real data sets.

    Every 97th hour, plus the hours just after each missing candle and around the 720 h mark
    after it (where the gap leaves the forward-fill reach and the long windows).
    """
    candles = load_bundled(name)
    gaps = pd.date_range(candles.index[0], candles.index[-1], freq="h").difference(candles.index)
    assert (len(gaps) > 0) == has_gaps
    hour = pd.Timedelta(hours=1)
    near = {g + k * hour for g in gaps for k in [*range(1, 9), *range(719, 729)]}
    chosen = set(candles.index[HISTORY_HOURS::97]) | (near & set(candles.index))
    partial = 0
    for t in sorted(chosen):
        window = _window(candles, t)
        _assert_latest_is_last_row(window)
        partial += bool(np.isnan(latest_features(window)).any())
    assert (partial > 0) == has_gaps  # rows with gap-NaN features were among those compared


def test_latest_features_follow_the_gap_rules(candles: pd.DataFrame) -> None:
    """Missing hours at every boundary the rules have: forward-fill reach, window edges, 5 %."""
    t = candles.index[-1]
    base = _window(candles, t)
    hour = pd.Timedelta(hours=1)
    cases = [[0], [1], *([k] for k in (5, 6, 7, 23, 24, 25, 168, 169, 719, 720, 721, 725, 726)),
             list(range(10, 16)), list(range(10, 17)), list(range(30, 66)), list(range(30, 67)),
             list(range(700, 726)), list(range(1, 9))]
    for hours_ago in cases:
        window = base.drop([t - k * hour for k in hours_ago])
        _assert_latest_is_last_row(window)
    _assert_latest_is_last_row(base.iloc[-300:])  # shorter than the history: long windows NaN
    bad = base.copy()
    bad.iloc[-3, bad.columns.get_loc("close")] = np.nan  # a candle whose close is missing
    _assert_latest_is_last_row(bad)
