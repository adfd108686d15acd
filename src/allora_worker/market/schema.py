"""The one normalized hourly candle shape every source returns (see docs/ARCHITECTURE.md).

A candle frame is a `pandas.DataFrame` with a tz-aware UTC `DatetimeIndex` named `open_time`
(the candle's open time, on the hour, sorted, unique) and float64 columns
`open, high, low, close, volume`. Sources build frames with `make_frame`, so that a shape
problem is found where the data enters, not where a model reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from allora_worker.market.errors import SchemaError

COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
INDEX_NAME = "open_time"
HOUR = timedelta(hours=1)


def empty_frame() -> pd.DataFrame:
    """A candle frame with no rows (still the full contract: dtypes, UTC index)."""
    index = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME).as_unit("ns")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in COLUMNS}, index=index)


def make_frame(
    open_times: Sequence[datetime] | pd.DatetimeIndex | Iterable[pd.Timestamp],
    rows: np.ndarray | Sequence[Sequence[float]],
) -> pd.DataFrame:
    """Build a contract frame from open times and an (n, 5) array of open/high/low/close/volume.

    Rows must already be unique per hour: a duplicate here means a parser bug or a provider
    sending the same hour twice, and both must be seen, not silently merged.
    """
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


def epoch_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Open times as int64 nanoseconds, whatever the index's unit (pandas may hold s/ms/us)."""
    ns: np.ndarray = index.as_unit("ns").asi8
    return ns


HOUR_NS = HOUR // pd.Timedelta(1, "ns")


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour containing `moment` (which must be tz-aware)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware UTC time")
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def last_closed_open_time(now: datetime) -> datetime:
    """Open time of the newest candle whose hour has fully ended at `now`."""
    return floor_hour(now) - HOUR


def drop_unclosed(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Keep only candles whose hour has ended at `now`: the forming hour's prices still move."""
    cutoff = pd.Timestamp(last_closed_open_time(now))
    return frame.loc[frame.index <= cutoff]


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware UTC time")
    return moment.astimezone(UTC)
