"""Replay of real recorded candles as if they were arriving live, driven by a clock.

The offline demo runs the daemon on the bundled real Binance/Coinbase history: at the clock's
`now`, the source offers only the candles whose hour has closed by then, exactly as a live
provider would. It is real data, not synthetic, and its name (`replay:...`) says it is a replay
everywhere it appears (cache keys, logs, `CheckedWindow.source_name`).
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd

from allora_worker.market.bundled import BundledName, load_bundled
from allora_worker.market.clock import Clock
from allora_worker.market.errors import ResponseError
from allora_worker.market.schema import last_closed_open_time, normalize, to_utc

log = logging.getLogger(__name__)


class ReplaySource:
    def __init__(self, frame: pd.DataFrame, clock: Clock, label: str) -> None:
        self._frame = normalize(frame)
        self.clock = clock
        self.name = f"replay:{label}"
        log.info(
            "%s: replaying recorded real candles %s .. %s as live data (clock %r)",
            self.name,
            self._frame.index[0] if len(self._frame) else None,
            self._frame.index[-1] if len(self._frame) else None,
            clock,
        )

    @classmethod
    def bundled(cls, name: BundledName, clock: Clock) -> ReplaySource:
        """Replay one of the bundled real candle sets (see data/PROVENANCE.md)."""
        return cls(load_bundled(name), clock, f"bundled-{name}")

    @property
    def span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self._frame.index[0], self._frame.index[-1]

    def fetch(self, start: datetime, end: datetime) -> pd.DataFrame:
        cutoff = pd.Timestamp(last_closed_open_time(self.clock.now()))
        lo, hi = pd.Timestamp(to_utc(start)), pd.Timestamp(to_utc(end))
        idx = self._frame.index
        part = self._frame.loc[(idx >= lo) & (idx < hi) & (idx <= cutoff)]
        if part.empty:
            raise ResponseError(
                self.name, f"no recorded closed candles in {lo.isoformat()} .. {hi.isoformat()}"
            )
        return part

    def __repr__(self) -> str:
        return f"ReplaySource({self.name!r}, clock={self.clock!r})"
