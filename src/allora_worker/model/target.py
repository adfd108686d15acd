"""The training target: the log-return over the topic's horizon, ln(close[t+h] / close[t]).

Unlike the features, the target is never forward-filled: a target that would need a missing
candle is NaN and the row is not used, so no label is invented.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allora_worker.model.features import check_candles


def make_target(candles: pd.DataFrame, horizon_hours: int) -> pd.Series:
    """Forward log-return over `horizon_hours`, on the complete hourly grid of `candles`."""
    if horizon_hours < 1:
        raise ValueError(f"horizon must be at least 1 hour, got {horizon_hours}")
    check_candles(candles)
    grid = pd.date_range(candles.index[0], candles.index[-1], freq="h", name="open_time")
    log_close = np.log(candles["close"].astype("float64").reindex(grid))
    target = log_close.shift(-horizon_hours) - log_close
    target.name = f"target_{horizon_hours}h"
    return target
