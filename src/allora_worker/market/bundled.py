"""The real BTC hourly candles shipped inside the package (see data/PROVENANCE.md).

They feed the demo, the backtests and the tests, so a fresh clone works with no network.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Literal

import pandas as pd

BundledName = Literal["binance", "coinbase"]

BUNDLED_FILES: dict[str, str] = {
    "binance": "btcusd_1h_binance.csv.gz",
    "coinbase": "btcusd_1h_coinbase.csv.gz",
}


def bundled_path(name: BundledName = "binance") -> str:
    """Filesystem path of a bundled candle file."""
    if name not in BUNDLED_FILES:
        raise ValueError(f"unknown bundled data set {name!r}; choose one of {sorted(BUNDLED_FILES)}")
    return str(files("allora_worker") / "data" / BUNDLED_FILES[name])


def load_bundled(name: BundledName = "binance") -> pd.DataFrame:
    """Cleaned hourly candles: UTC `open_time` index, float open/high/low/close/volume."""
    frame = pd.read_csv(bundled_path(name), compression="gzip")
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("open_time"), utc=True), name="open_time")
    frame.index = index
    return frame.astype("float64")
