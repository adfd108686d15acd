"""The real BTC hourly candles shipped inside the package (see data/PROVENANCE.md).

They feed the demo, the backtests and the tests, so a fresh clone works with no network.
`load_bundled` gives the DataFrame (training, backtests); `load_bundled_candles` the same rows
as numpy `Candles` without importing pandas (the demo's replay source inside the daemon).
"""

from __future__ import annotations

import gzip
import io
from importlib.resources import files
from typing import TYPE_CHECKING, Literal

import numpy as np

from allora_worker.market.errors import SchemaError
from allora_worker.market.schema import COLUMNS, INDEX_NAME, Candles, make_candles

if TYPE_CHECKING:
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
    import pandas as pd

    frame = pd.read_csv(bundled_path(name), compression="gzip")
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("open_time"), utc=True), name="open_time")
    frame.index = index
    return frame.astype("float64")


def load_bundled_candles(name: BundledName = "binance") -> Candles:
    """The same candles as `load_bundled`, read with numpy only (tests/model/test_live_path.py pins
    them equal, bit for bit). numpy's C reader keeps the peak low: a Python list of the 33,000
    split rows cost ~25 MB of peak RSS for a moment."""
    path = bundled_path(name)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    header = text[: text.index("\n")].strip().split(",")
    if header != [INDEX_NAME, *COLUMNS]:
        raise SchemaError(f"{path}: header {header} is not {[INDEX_NAME, *COLUMNS]}")
    stamps = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, usecols=0, dtype="U20", ndmin=1)
    values = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, usecols=range(1, 6), dtype=np.float64,
                        ndmin=2)
    # Written in UTC as `YYYY-MM-DDTHH:MM:SSZ`; numpy's ISO parser takes the time without the `Z`.
    if not (np.char.str_len(stamps) == 20).all() or not np.char.endswith(stamps, "Z").all():
        raise SchemaError(f"{path}: open times must be UTC ISO 8601 ending in Z")
    times = stamps.astype("U19").astype("datetime64[ns]").astype(np.int64)
    return make_candles(times, values)
