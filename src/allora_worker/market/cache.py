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
from typing import TYPE_CHECKING

import numpy as np

from allora_worker.candles import from_ns
from allora_worker.market.schema import HOUR, HOUR_NS, Candles, floor_hour, to_ns, to_utc

if TYPE_CHECKING:
    import pandas as pd

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
    first: datetime | None
    last: datetime | None
    gaps: list[tuple[datetime, datetime]]  # (first missing, last missing) hours

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

    def store(self, source: str, candles: Candles | pd.DataFrame) -> int:
        """Insert or replace candles of `source`; returns the number of rows written."""
        candles = Candles.of(candles)
        if not len(candles):
            return 0
        seconds = (candles.times // 1_000_000_000).tolist()
        values = candles.values.tolist()
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

    def read(self, source: str, start: datetime | None = None, end: datetime | None = None) -> Candles:
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
            return Candles.empty()
        times = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)) * 1_000_000_000
        values = np.array([r[1:] for r in rows], dtype=np.float64)
        return Candles(times, values)

    def missing(self, source: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Half-open ranges of hours in `[start, end)` that the cache lacks for `source`."""
        lo, hi = floor_hour(to_utc(start)), to_utc(end)
        first, stop = to_ns(lo), to_ns(hi)
        wanted = np.arange(first, stop, HOUR_NS, dtype=np.int64)
        if len(wanted) == 0:
            return []
        have = self.read(source, lo, hi).times
        return _runs(np.setdiff1d(wanted, have, assume_unique=True))

    def sources(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT source FROM candles ORDER BY source")]

    def summary(self, source: str) -> CacheSummary:
        times = self.read(source).times
        if len(times) == 0:
            return CacheSummary(source, 0, None, None, [])
        full = np.arange(times[0], times[-1] + 1, HOUR_NS, dtype=np.int64)
        gaps = [(a, b - HOUR) for a, b in _runs(np.setdiff1d(full, times, assume_unique=True))]
        return CacheSummary(source, len(times), from_ns(times[0]), from_ns(times[-1]), gaps)


def _runs(hours_ns: np.ndarray) -> list[tuple[datetime, datetime]]:
    """Consecutive hours (sorted int64 ns) grouped into half-open `[first, last + 1h)` ranges."""
    if len(hours_ns) == 0:
        return []
    breaks = np.flatnonzero(np.diff(hours_ns) != HOUR_NS) + 1
    out = []
    for chunk in np.split(hours_ns, breaks):
        out.append((from_ns(chunk[0]), from_ns(chunk[-1]) + HOUR))
    return out
