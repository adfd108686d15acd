"""What the three HTTP sources share: chunked fetching, the closed-candle cut, logging."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from allora_worker.market.clock import Clock, SystemClock
from allora_worker.market.errors import ResponseError
from allora_worker.market.http import JsonHttp
from allora_worker.market.parsing import combine, hour_chunks
from allora_worker.market.schema import HOUR, Candles, floor_hour, last_closed_open_time, to_ns, to_utc

log = logging.getLogger(__name__)


class HttpCandleSource:
    """Base of the provider sources. Subclasses set `chunk_hours` and implement `_request`/`_parse`."""

    name: str = "http"
    chunk_hours: int = 1000

    def __init__(self, http: JsonHttp, clock: Clock | None = None) -> None:
        self._http = http
        self.clock = clock or SystemClock()

    def fetch(self, start: datetime, end: datetime) -> Candles:
        """Closed candles with open time in `[start, end)`; raises `SourceError` on any failure."""
        now = self.clock.now()
        cutoff = last_closed_open_time(now)
        start = floor_hour(to_utc(start))
        # Never ask for the forming hour: its candle would still change.
        end = min(to_utc(end), cutoff + HOUR)
        if start >= end:
            raise ResponseError(self.name, f"empty range {start.isoformat()} .. {end.isoformat()}")
        chunks = []
        for lo, hi in hour_chunks(start, end, self.chunk_hours):
            chunk = self._parse(self._request(lo, hi))
            # Providers pad answers (Coinbase may return earlier buckets, Tiingo whole days):
            # keep each chunk to its own range so neighbours cannot overlap.
            chunks.append(chunk.between(to_ns(lo), to_ns(hi)))
        candles = combine(self.name, chunks, start, end, cutoff)
        if not len(candles):
            raise ResponseError(
                self.name, f"no closed candles between {start.isoformat()} and {end.isoformat()}"
            )
        log.debug("%s: %d candles %s .. %s", self.name, len(candles), candles.first, candles.last)
        return candles

    def _request(self, lo: datetime, hi: datetime) -> Any:
        raise NotImplementedError

    def _parse(self, payload: Any) -> Candles:
        raise NotImplementedError

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
