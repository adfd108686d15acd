"""Hourly candles as two numpy arrays: the type the daemon's data path passes around.

`Candles` holds open times (int64 nanoseconds since the epoch, UTC, on the hour, sorted and
unique) and an (n, 5) float64 array of open/high/low/close/volume. It is what every candle
source returns, what the checks read and what a bundle predicts from. It needs only numpy:
importing pandas cost the daemon ~35 MB of RSS for nothing it needed there. `to_frame()` builds the
`pandas.DataFrame` shape (tz-aware UTC `DatetimeIndex` named `open_time`, float64 columns)
for whoever wants one (training, backtests, the `data` commands, a plugin), importing pandas
then and only then; `Candles.of` accepts either shape.

It sits below both `market` (which fills it) and `model` (which reads it), so that neither
imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
INDEX_NAME = "open_time"
HOUR_NS = 3_600 * 1_000_000_000
_NS_PER_S = 1_000_000_000


def to_ns(moment: datetime) -> int:
    """A tz-aware time as int64 nanoseconds since the epoch (exact for whole microseconds)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware UTC time")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1_000


def from_ns(ns: int | np.integer[Any]) -> datetime:
    """int64 nanoseconds since the epoch as a tz-aware UTC datetime (to the microsecond)."""
    seconds, rest = divmod(int(ns), _NS_PER_S)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1_000)


@dataclass(frozen=True, eq=False)
class Candles:
    """Hourly candles: `times` (int64 ns, UTC open times) and `values` (float64, n x 5 OHLCV).

    The constructor checks shapes and dtypes only; `market.schema.make_candles` (where data
    enters) also checks order, uniqueness and the hour grid.
    """

    times: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.times.dtype != np.int64 or self.times.ndim != 1:
            raise ValueError(f"candle times must be a 1-D int64 array, not {self.times.dtype} {self.times.shape}")
        if self.values.dtype != np.float64 or self.values.shape != (len(self.times), len(COLUMNS)):
            raise ValueError(f"candle values must be float64 of shape ({len(self.times)}, {len(COLUMNS)}), "
                             f"not {self.values.dtype} {self.values.shape}")

    @classmethod
    def empty(cls) -> Candles:
        return cls(np.empty(0, dtype=np.int64), np.empty((0, len(COLUMNS)), dtype=np.float64))

    @classmethod
    def of(cls, candles: Candles | pd.DataFrame) -> Candles:
        """`candles` itself, or the open times and columns of a contract DataFrame (this imports
        nothing: a caller holding a DataFrame has imported pandas already)."""
        if isinstance(candles, Candles):
            return candles
        index = candles.index
        if getattr(index, "tz", None) is None or not hasattr(index, "as_unit"):
            raise ValueError("candles need a tz-aware UTC DatetimeIndex (open_time)")
        absent = [c for c in COLUMNS if c not in candles.columns]
        if absent:
            raise ValueError(f"candles lack columns {absent}")
        times = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
        values = np.ascontiguousarray(candles.loc[:, list(COLUMNS)].to_numpy(dtype="float64"))
        return cls(times, values)

    def __len__(self) -> int:
        return len(self.times)

    def __repr__(self) -> str:
        span = f"{self.first.isoformat()} .. {self.last.isoformat()}" if len(self) else "empty"
        return f"Candles({len(self)} h, {span})"

    @property
    def close(self) -> np.ndarray:
        return self.values[:, 3]

    @property
    def first(self) -> datetime:
        return from_ns(self.times[0])

    @property
    def last(self) -> datetime:
        return from_ns(self.times[-1])

    def index_of(self, open_time: datetime) -> int | None:
        """Row of the candle that opens at `open_time` (tz-aware), or None if there is none."""
        ns = to_ns(open_time)
        i = int(np.searchsorted(self.times, ns))
        return i if i < len(self.times) and int(self.times[i]) == ns else None

    def take(self, rows: np.ndarray | slice) -> Candles:
        """The rows selected by a boolean mask, an index array or a slice."""
        return Candles(self.times[rows], self.values[rows])

    def between(self, start_ns: int | None = None, end_ns: int | None = None) -> Candles:
        """Candles whose open time is in `[start_ns, end_ns)` (times are sorted: a slice)."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.times, start_ns, side="left"))
        hi = len(self.times) if end_ns is None else int(np.searchsorted(self.times, end_ns, side="left"))
        return self.take(slice(lo, max(lo, hi)))

    def to_frame(self) -> pd.DataFrame:
        """The contract DataFrame (imports pandas: only callers that want a frame pay for it)."""
        import pandas as pd

        index = pd.DatetimeIndex(self.times.astype("datetime64[ns]"), name=INDEX_NAME).tz_localize("UTC")
        return pd.DataFrame(self.values.copy(), index=index, columns=list(COLUMNS))
