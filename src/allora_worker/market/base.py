"""What every candle source offers: a name and `fetch(start, end)`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from allora_worker.candles import Candles


@runtime_checkable
class CandleSource(Protocol):
    """A source of hourly candles in the contract shape (`Candles`, see `market.schema`).

    `fetch(start, end)` returns the closed candles whose open time is in `[start, end)`, sorted
    and unique, or raises a `SourceError`. It never fills a gap: a missing hour stays missing.
    `name` identifies the source in the cache, logs and `CheckedWindow.source_name`.
    """

    name: str

    def fetch(self, start: datetime, end: datetime) -> Candles: ...
