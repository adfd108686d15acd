"""The one normalized hourly candle shape every source returns (see docs/ARCHITECTURE.md).

Sources return `Candles` (`allora_worker.candles`: open times as int64 ns, UTC, on the hour,
sorted, unique, and float64 `open, high, low, close, volume`), built with `make_candles`, so
that a shape problem is found where the data enters, not where a model reads it. Its frame
form (`Candles.to_frame()`, `make_frame`) is a `pandas.DataFrame` with a tz-aware UTC
`DatetimeIndex` named `open_time` and the same float64 columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from allora_worker.candles import COLUMNS, HOUR_NS, INDEX_NAME, PRICE_COLUMNS, Candles, from_ns, to_ns
from allora_worker.market.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "HOUR", "HOUR_NS", "INDEX_NAME", "PRICE_COLUMNS", "Candles", "make_candles", "to_ns"]

HOUR = timedelta(hours=1)


def make_candles(times_ns: np.ndarray | Sequence[int], rows: np.ndarray | Sequence[Sequence[float]]) -> Candles:
    """The numpy contract from open times (int64 ns, UTC) and an (n, 5) OHLCV array, sorted by time.

    Rows must already be unique per hour: a duplicate here means a parser bug or a provider
    sending the same hour twice, and both must be seen, not silently merged.
    """
    times = np.asarray(times_ns, dtype=np.int64).reshape(-1)
    values = np.asarray(rows, dtype="float64")
    if values.size == 0 and len(times) == 0:
        return Candles.empty()
    if values.ndim != 2 or values.shape[1] != len(COLUMNS):
        raise SchemaError(f"expected rows of {len(COLUMNS)} values (OHLCV), got shape {values.shape}")
    if len(times) != len(values):
        raise SchemaError(f"{len(times)} open times for {len(values)} rows")
    if bool(np.any(np.diff(times) < 0)):
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
    step = np.diff(times)
    if bool(np.any(step == 0)):
        dupes = times[1:][step == 0]
        raise SchemaError(f"{len(dupes)} duplicated open times, first {from_ns(dupes[0]).isoformat()}")
    off_hour = times[times % HOUR_NS != 0]
    if len(off_hour):
        raise SchemaError(f"{len(off_hour)} open times not on the hour, first {from_ns(off_hour[0]).isoformat()}")
    return Candles(np.ascontiguousarray(times), np.ascontiguousarray(values))


# The DataFrame side of the contract, for the CSV importer, the `data` commands and training.
# pandas is imported inside them: the daemon's data path (sources, cache, checks) never calls them.


def empty_frame() -> pd.DataFrame:
    """A candle frame with no rows (still the full contract: dtypes, UTC index)."""
    return Candles.empty().to_frame()


def make_frame(
    open_times: Sequence[datetime] | pd.DatetimeIndex | Iterable[pd.Timestamp],
    rows: np.ndarray | Sequence[Sequence[float]],
) -> pd.DataFrame:
    """Build a contract frame from open times and an (n, 5) array of open/high/low/close/volume.

    Rows must already be unique per hour (see `make_candles`).
    """
    import pandas as pd

    values = np.asarray(rows, dtype="float64")
    if values.size == 0:
        return empty_frame()
    if values.ndim != 2 or values.shape[1] != len(COLUMNS):
        raise SchemaError(f"expected rows of {len(COLUMNS)} values (OHLCV), got shape {values.shape}")
    index = pd.DatetimeIndex(pd.to_datetime(list(open_times), utc=True), name=INDEX_NAME).as_unit("ns")
    if len(index) != len(values):
        raise SchemaError(f"{len(index)} open times for {len(values)} rows")
    frame = pd.DataFrame(values, index=index, columns=list(COLUMNS))
    return normalize(frame)


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by open time and verify the contract; raise `SchemaError` on anything else."""
    import pandas as pd

    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise SchemaError("candle index must be a tz-aware DatetimeIndex")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"candle frame lacks columns {missing}")
    out = frame.loc[:, list(COLUMNS)].astype("float64")
    out.index = pd.DatetimeIndex(out.index.tz_convert("UTC"), name=INDEX_NAME).as_unit("ns")
    if not out.index.is_monotonic_increasing:
        out = out.sort_index(kind="stable")
    dupes = out.index[out.index.duplicated()]
    if len(dupes):
        raise SchemaError(f"{len(dupes)} duplicated open times, first {dupes[0].isoformat()}")
    off_hour = out.index[(out.index.minute != 0) | (out.index.second != 0) | (out.index.microsecond != 0)]
    if len(off_hour):
        raise SchemaError(f"{len(off_hour)} open times not on the hour, first {off_hour[0].isoformat()}")
    return out


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour containing `moment` (which must be tz-aware)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware UTC time")
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def last_closed_open_time(now: datetime) -> datetime:
    """Open time of the newest candle whose hour has fully ended at `now`."""
    return floor_hour(now) - HOUR


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware UTC time")
    return moment.astimezone(UTC)
