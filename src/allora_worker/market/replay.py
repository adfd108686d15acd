"""Replay of real recorded candles as if they were arriving live, driven by a clock.

The offline demo runs the daemon on the bundled real Binance/Coinbase history: at the clock's
`now`, the source offers only the candles whose hour has closed by then, exactly as a live
provider would. It is real data, not synthetic, and its name (`replay:...`) says it is a replay
everywhere it appears (cache keys, logs, `CheckedWindow.source_name`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from allora_worker.market.bundled import BundledName, load_bundled_candles
from allora_worker.market.clock import Clock
from allora_worker.market.errors import ResponseError
from allora_worker.market.schema import Candles, last_closed_open_time, normalize, to_ns, to_utc

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class ReplaySource:
    def __init__(self, candles: Candles | pd.DataFrame, clock: Clock, label: str) -> None:
        self._candles = candles if isinstance(candles, Candles) else Candles.of(normalize(candles))
        self.clock = clock
        self.name = f"replay:{label}"
        log.info(
            "%s: replaying recorded real candles %s .. %s as live data (clock %r)",
            self.name,
            self._candles.first if len(self._candles) else None,
            self._candles.last if len(self._candles) else None,
            clock,
        )

    @classmethod
    def bundled(cls, name: BundledName, clock: Clock) -> ReplaySource:
        """Replay one of the bundled real candle sets (see data/PROVENANCE.md)."""
        return cls(load_bundled_candles(name), clock, f"bundled-{name}")

    @property
    def span(self) -> tuple[datetime, datetime]:
        return self._candles.first, self._candles.last

    def fetch(self, start: datetime, end: datetime) -> Candles:
        cutoff = to_ns(last_closed_open_time(self.clock.now()))
        lo, hi = to_utc(start), to_utc(end)
        part = self._candles.between(to_ns(lo), min(to_ns(hi), cutoff + 1))
        if not len(part):
            raise ResponseError(
                self.name, f"no recorded closed candles in {lo.isoformat()} .. {hi.isoformat()}"
            )
        return part

    def __repr__(self) -> str:
        return f"ReplaySource({self.name!r}, clock={self.clock!r})"
