"""Features from hourly candles: ONE function, used both for training and for live prediction.

`compute_features` is the only place features are defined. Training calls it on the whole
history; the live path (`LoadedBundle.predict`) calls it on the last `HISTORY_HOURS` candles.
Every feature at time t is a function of candles with open_time in [t - HISTORY_HOURS + 1, t]
only (trailing windows, forward-fill from the past), so both calls give the same value at t.

Gaps are handled honestly: the frame is reindexed to a complete hourly grid; a missing hour is
forward-filled from the last real candle for at most `FFILL_LIMIT_HOURS` hours (only the past
is read), and a feature whose window contains more than 5% missing hours (or any missing hour
for windows shorter than 20 h) is NaN. A row whose own candle is missing is entirely NaN:
we never predict from a candle we did not see. Rows with any NaN feature are not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from allora_worker.candles import HOUR_NS, Candles

if TYPE_CHECKING:
    import pandas as pd

# Bump when the definition of any feature changes: a bundle trained on another version is
# refused at load time instead of silently receiving differently computed inputs.
FEATURE_SET_VERSION = 1

RETURN_WINDOWS = (1, 4, 12, 24, 72, 168, 336, 720)
VOL_WINDOWS = (24, 168, 720)
RANGE_WINDOWS = (24, 168)
MA_WINDOWS = (168, 720)
EWMA_HALFLIFE = 168
EWMA_SPAN = 720  # the EWMA is truncated at 720 h so that it reads a finite, fixed window
FFILL_LIMIT_HOURS = 6
MISSING_FRACTION = 0.05

FEATURE_NAMES: list[str] = [
    *(f"ret_{k}h" for k in RETURN_WINDOWS),
    *(f"vol_{w}h" for w in VOL_WINDOWS),
    "vol_ratio_24h_168h",
    *(f"range_{w}h" for w in RANGE_WINDOWS),
    "volume_ratio_24h_720h",
    *(f"dist_ma_{w}h" for w in MA_WINDOWS),
    f"ewma_ret_hl{EWMA_HALFLIFE}h",
]

# Rows of candles (t and before) the widest feature reads, plus the forward-fill reach.
_MAX_SPAN_ROWS = max(*RETURN_WINDOWS, *VOL_WINDOWS, *MA_WINDOWS, EWMA_SPAN) + 1
HISTORY_HOURS = _MAX_SPAN_ROWS + FFILL_LIMIT_HOURS

REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")


def regularize(candles: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Reindex to a complete hourly grid; return (forward-filled frame, missing-hour mask)."""
    import pandas as pd  # the training path; the daemon's live path (latest_features) needs numpy only

    check_candles(candles)
    grid = pd.date_range(candles.index[0], candles.index[-1], freq="h", name="open_time")
    raw = candles.loc[:, list(REQUIRED_COLUMNS)].astype("float64").reindex(grid)
    missing = raw["close"].isna()
    # Forward-fill reads only earlier candles, so it cannot leak the future.
    filled = raw.ffill(limit=FFILL_LIMIT_HOURS)
    return filled, missing


def check_candles(candles: pd.DataFrame) -> None:
    """Refuse frames that are not hourly candles in the market layer's contract."""
    import pandas as pd

    if not isinstance(candles.index, pd.DatetimeIndex) or candles.index.tz is None:
        raise ValueError("candles need a tz-aware UTC DatetimeIndex (open_time)")
    if len(candles) == 0:
        raise ValueError("candles frame is empty")
    if not candles.index.is_monotonic_increasing or not candles.index.is_unique:
        raise ValueError("candle open_time must be sorted and unique")
    absent = [c for c in REQUIRED_COLUMNS if c not in candles.columns]
    if absent:
        raise ValueError(f"candles lack columns {absent}")
    off_grid = candles.index != candles.index.floor("h")
    if bool(np.any(off_grid)):
        raise ValueError("candle open_time values must be on the hour")


def _too_gappy(missing: np.ndarray, span_rows: int) -> np.ndarray:
    """True where the `span_rows` rows ending at t hold more missing hours than allowed."""
    allowed = int(np.floor(span_rows * MISSING_FRACTION))
    # A window that starts before the frame has unknown content: treat it as too gappy.
    out = np.ones(len(missing), dtype=bool)
    if span_rows <= len(missing):
        cumulative = np.concatenate([[0], np.cumsum(missing, dtype=np.int64)])
        out[span_rows - 1 :] = (cumulative[span_rows:] - cumulative[:-span_rows]) > allowed
    return out


def _truncated_ewma(values: np.ndarray, halflife: float, span: int) -> np.ndarray:
    """Exponentially weighted mean over exactly the last `span` values (NaN if any is NaN)."""
    out = np.full(values.shape, np.nan)
    if len(values) < span:
        return out
    weights = 0.5 ** (np.arange(span)[::-1] / halflife)  # newest value gets weight 1
    windows = np.lib.stride_tricks.sliding_window_view(values, span)
    out[span - 1 :] = windows @ (weights / weights.sum())
    return out


def compute_features(candles: pd.DataFrame) -> pd.DataFrame:
    """Feature frame on the complete hourly grid of `candles`, columns `FEATURE_NAMES` (pandas)."""
    # Flat hours give zero volatility and log(0); those become NaN below, not warnings.
    with np.errstate(divide="ignore", invalid="ignore"):
        return _compute(candles)


def _compute(candles: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    filled, missing = regularize(candles)
    log_close = np.log(filled["close"])
    hourly = log_close.diff()
    feats: dict[str, pd.Series] = {}
    spans: dict[str, int] = {}

    for k in RETURN_WINDOWS:
        feats[f"ret_{k}h"] = log_close - log_close.shift(k)
        spans[f"ret_{k}h"] = k + 1
    for w in VOL_WINDOWS:
        feats[f"vol_{w}h"] = hourly.rolling(w, min_periods=w).std()
        spans[f"vol_{w}h"] = w + 1
    feats["vol_ratio_24h_168h"] = np.log(feats["vol_24h"] / feats["vol_168h"])
    spans["vol_ratio_24h_168h"] = 169
    bar_range = np.log(filled["high"] / filled["low"])
    for w in RANGE_WINDOWS:
        feats[f"range_{w}h"] = bar_range.rolling(w, min_periods=w).mean()
        spans[f"range_{w}h"] = w
    # log1p keeps zero-volume hours finite; the ratio says "is activity unusual right now".
    vol24 = filled["volume"].rolling(24, min_periods=24).mean()
    vol720 = filled["volume"].rolling(720, min_periods=720).mean()
    feats["volume_ratio_24h_720h"] = np.log1p(vol24) - np.log1p(vol720)
    spans["volume_ratio_24h_720h"] = 720
    for w in MA_WINDOWS:
        feats[f"dist_ma_{w}h"] = log_close - np.log(filled["close"].rolling(w, min_periods=w).mean())
        spans[f"dist_ma_{w}h"] = w
    name = f"ewma_ret_hl{EWMA_HALFLIFE}h"
    feats[name] = pd.Series(_truncated_ewma(hourly.to_numpy(), EWMA_HALFLIFE, EWMA_SPAN), index=filled.index)
    spans[name] = EWMA_SPAN + 1

    # Masking in numpy, not via DataFrame.loc per column: this runs on every live prediction.
    values = np.column_stack([feats[col].to_numpy(dtype="float64") for col in FEATURE_NAMES])
    miss = missing.to_numpy()
    for j, col in enumerate(FEATURE_NAMES):
        values[_too_gappy(miss, spans[col]), j] = np.nan
    values[miss, :] = np.nan
    values[~np.isfinite(values)] = np.nan
    return pd.DataFrame(values, index=filled.index, columns=FEATURE_NAMES)


def latest_features(candles: Candles | pd.DataFrame) -> np.ndarray:
    """The last row of `compute_features(candles)`, computed for that row alone (the live path).

    A prediction needs one row, and building the whole frame with pandas costs ~4 ms of
    per-call overhead for 727 rows, and the daemon ~40 MB for importing pandas at all. This
    computes the same quantities for t = the last candle only, in numpy, on the last
    `HISTORY_HOURS` grid rows (all that any feature at t reads, forward-fill included). It is a
    second spelling of the definitions above, so tests/model/test_features.py checks it against
    `compute_features` on every hour of both bundled real data sets, gaps included. Values agree
    to rounding: the windowed sums run in another order than pandas' rolling ones (~1e-15
    relative).
    """
    if not isinstance(candles, Candles):
        check_candles(candles)  # a frame's own contract (pandas is loaded: the caller holds a frame)
    arrays = Candles.of(candles)
    _check_arrays(arrays)
    n = HISTORY_HOURS
    # The last n rows hold every candle of the last n hours (open times are unique hours).
    tail = arrays.take(slice(-n, None))
    first = tail.times[-1] - (n - 1) * HOUR_NS
    keep = tail.times >= first
    pos = (tail.times[keep] - first) // HOUR_NS
    grid = np.full((n, len(REQUIRED_COLUMNS)), np.nan)
    grid[pos] = tail.values[keep]
    # Hours before a short frame stay NaN and count as missing: every window reaching them is NaN,
    # as in compute_features, whose grid starts at the frame.
    missing = np.isnan(grid[:, REQUIRED_COLUMNS.index("close")])
    filled = _ffill(grid, FFILL_LIMIT_HOURS)
    _, high, low, close, volume = filled.T
    row = np.full(len(FEATURE_NAMES), np.nan)
    if missing[-1]:
        return row
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
        hourly = np.diff(log_close)  # hourly[-k] is the return into the k-th newest hour
        values: dict[str, float] = {}
        spans: dict[str, int] = {}
        for k in RETURN_WINDOWS:
            values[f"ret_{k}h"] = log_close[-1] - log_close[-1 - k]
            spans[f"ret_{k}h"] = k + 1
        for w in VOL_WINDOWS:
            values[f"vol_{w}h"] = float(np.std(hourly[-w:], ddof=1))
            spans[f"vol_{w}h"] = w + 1
        values["vol_ratio_24h_168h"] = np.log(values["vol_24h"] / values["vol_168h"])
        spans["vol_ratio_24h_168h"] = 169
        bar_range = np.log(high[-max(RANGE_WINDOWS):] / low[-max(RANGE_WINDOWS):])
        for w in RANGE_WINDOWS:
            values[f"range_{w}h"] = float(np.mean(bar_range[-w:]))
            spans[f"range_{w}h"] = w
        values["volume_ratio_24h_720h"] = np.log1p(np.mean(volume[-24:])) - np.log1p(np.mean(volume[-720:]))
        spans["volume_ratio_24h_720h"] = 720
        for w in MA_WINDOWS:
            values[f"dist_ma_{w}h"] = log_close[-1] - np.log(np.mean(close[-w:]))
            spans[f"dist_ma_{w}h"] = w
        name = f"ewma_ret_hl{EWMA_HALFLIFE}h"
        values[name] = float(_truncated_ewma(hourly[-EWMA_SPAN:], EWMA_HALFLIFE, EWMA_SPAN)[-1])
        spans[name] = EWMA_SPAN + 1
    for j, col in enumerate(FEATURE_NAMES):
        span = spans[col]
        if int(np.count_nonzero(missing[-span:])) <= int(np.floor(span * MISSING_FRACTION)):
            row[j] = values[col]
    row[~np.isfinite(row)] = np.nan
    return row


def _check_arrays(candles: Candles) -> None:
    """`check_candles` for the numpy type (its shape and dtypes are checked when it is built)."""
    if len(candles) == 0:
        raise ValueError("candles frame is empty")
    if bool(np.any(np.diff(candles.times) <= 0)):
        raise ValueError("candle open_time must be sorted and unique")
    if bool(np.any(candles.times % HOUR_NS != 0)):
        raise ValueError("candle open_time values must be on the hour")


def _ffill(grid: np.ndarray, limit: int) -> np.ndarray:
    """Per column, NaN cells take the last value above them if it is at most `limit` rows up."""
    rows = np.arange(grid.shape[0])[:, None]
    source = np.where(np.isnan(grid), -1, rows)
    np.maximum.accumulate(source, axis=0, out=source)
    reach = (source >= 0) & (rows - source <= limit)
    return np.where(reach, np.take_along_axis(grid, np.maximum(source, 0), axis=0), np.nan)


def feature_spec() -> dict[str, object]:
    """What a bundle records about the features it was trained on."""
    return {
        "feature_set_version": FEATURE_SET_VERSION,
        "features": list(FEATURE_NAMES),
        "ffill_limit_hours": FFILL_LIMIT_HOURS,
        "missing_fraction": MISSING_FRACTION,
    }
