"""Shared fixtures: a slice of the real bundled candles keeps the model tests fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allora_worker.market.bundled import load_bundled


@pytest.fixture(scope="session")
def candles() -> pd.DataFrame:
    """The last ~7 months of the real Binance candles (5,000 hours)."""
    return load_bundled("binance").iloc[-5000:].copy()


def synthetic_mean_reverting(hours: int = 9000, seed: int = 3) -> pd.DataFrame:
    """Candles whose log price mean-reverts: the 168 h return IS predictable from the past."""
    rng = np.random.default_rng(seed)
    x = np.zeros(hours)
    for i in range(1, hours):
        x[i] = x[i - 1] * 0.995 + 0.004 * rng.standard_normal()
    close = 20000 * np.exp(x)
    index = pd.date_range("2020-01-01", periods=hours, freq="h", tz="UTC", name="open_time")
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.standard_normal(hours)) * 0.002 * close
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(10, 100, hours),
        },
        index=index,
    )
