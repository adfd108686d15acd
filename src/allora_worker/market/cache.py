"""Local candle cache: SQLite (stdlib, WAL), one row per (source, open time).

The daemon asks the cache which hours of a window it lacks and fetches only those; a restart
keeps everything already fetched. Only candles that passed a source's own validation are
stored, and rows are replaced on conflict (a provider may revise a recent candle).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from allora_worker.market.schema import COLUMNS, HOUR, INDEX_NAME, empty_frame, floor_hour, to_utc

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candles (
    source    TEXT    NOT NULL,
    open_time INTEGER NOT NULL,  -- unix seconds, UTC, on the hour
    open      REAL    NOT NULL,
    high      REAL    NOT NULL,
    low       REAL    NOT NULL,
    close     REAL    NOT NULL,
    volume    REAL    NOT NULL,
    PRIMARY KEY (source, open_time)
) WITHOUT ROWID;
"""


def default_cache_path() -> Path:
    """`$ALLORA_WORKER_STATE_DIR/candles.sqlite`, else `~/.allora-worker/candles.sqlite`."""
    state = os.environ.get("ALLORA_WORKER_STATE_DIR")
    base = Path(state) if state else Path.home() / ".allora-worker"
    return base / "candles.sqlite"


@dataclass(frozen=True)
class CacheSummary:
    source: str
    count: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    gaps: list[tuple[pd.Timestamp, pd.Timestamp]]  # (first missing, last missing) hours

    @property
    def missing_hours(self) -> int:
        return sum(int((b - a) / HOUR) + 1 for a, b in self.gaps)


class CandleCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: the daemon may call from a worker thread.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost candle is re-fetched, not lost money
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CandleCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CandleCache({str(self.path)!r})"

    def store(self, source: str, frame: pd.DataFrame) -> int:
        """Insert or replace candles of `source`; returns the number of rows written."""
        if frame.empty:
            return 0
        seconds = frame.index.as_unit("s").asi8.tolist()
        values = frame[list(COLUMNS)].to_numpy(dtype="float64").tolist()
        rows = [(source, t, *v) for t, v in zip(seconds, values, strict=True)]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO candles VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def read(self, source: str, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """Cached candles of `source` with open time in `[start, end)`, in the contract shape."""
        lo = int(to_utc(start).timestamp()) if start else -(2**62)
        hi = int(to_utc(end).timestamp()) if end else 2**62
        with self._lock:
            rows = self._db.execute(
                "SELECT open_time, open, high, low, close, volume FROM candles "
                "WHERE source = ? AND open_time >= ? AND open_time < ? ORDER BY open_time",
                (source, lo, hi),
            ).fetchall()
        if not rows:
            return empty_frame()
        data = np.asarray(rows, dtype="float64")
        index = pd.DatetimeIndex(data[:, 0].astype("int64") * 1_000_000_000, tz="UTC", name=INDEX_NAME)
        return pd.DataFrame(data[:, 1:], index=index.as_unit("ns"), columns=list(COLUMNS))

    def missing(self, source: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Half-open ranges of hours in `[start, end)` that the cache lacks for `source`."""
        lo, hi = floor_hour(to_utc(start)), to_utc(end)
        wanted = pd.date_range(lo, hi, freq="h", inclusive="left")
        if len(wanted) == 0:
            return []
        have = self.read(source, lo, hi).index
        absent = wanted.difference(have)
        return _runs(absent)

    def sources(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT source FROM candles ORDER BY source")]

    def summary(self, source: str) -> CacheSummary:
        index = self.read(source).index
        if len(index) == 0:
            return CacheSummary(source, 0, None, None, [])
        full = pd.date_range(index[0], index[-1], freq="h")
        gaps = [(a, b - HOUR) for a, b in _runs(full.difference(index))]
        return CacheSummary(source, len(index), index[0], index[-1], gaps)


def _runs(hours: pd.DatetimeIndex) -> list[tuple[datetime, datetime]]:
    """Consecutive hours grouped into half-open `[first, last + 1h)` ranges."""
    if len(hours) == 0:
        return []
    ns = hours.as_unit("ns").asi8
    breaks = np.flatnonzero(np.diff(ns) != HOUR // pd.Timedelta(1, "ns")) + 1
    out = []
    for chunk in np.split(np.arange(len(ns)), breaks):
        first, last = hours[chunk[0]], hours[chunk[-1]]
        out.append((first.to_pydatetime(), (last + HOUR).to_pydatetime()))
    return out
