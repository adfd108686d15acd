"""Binance public klines: GET /api/v3/klines (no key), 1000 candles per request.

Documented row: [open time ms, "open", "high", "low", "close", "volume", close time ms,
"quote volume", trades, "taker base", "taker quote", "ignore"], oldest first. The newest row
is the still-forming hour; it is dropped by the closed-candle cut.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import numpy as np

from allora_worker.market.clock import Clock
from allora_worker.market.errors import ResponseError
from allora_worker.market.http import HttpPolicy, JsonHttp
from allora_worker.market.http_source import HttpCandleSource
from allora_worker.market.parsing import numbers, rows_to_candles
from allora_worker.market.schema import Candles

BASE_URL = "https://api.binance.com"
_HOUR_MS = 3_600_000


class BinanceSource(HttpCandleSource):
    chunk_hours = 1000

    def __init__(
        self,
        symbol: str = "BTCUSDT",
        *,
        base_url: str = BASE_URL,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Any = None,
    ) -> None:
        self.symbol = symbol
        self.name = f"binance:{symbol}"
        super().__init__(JsonHttp(self.name, base_url, policy=policy, transport=transport, sleep=sleep), clock)

    def _request(self, lo: datetime, hi: datetime) -> Any:
        start_ms = int(lo.timestamp() * 1000)
        end_ms = int(hi.timestamp() * 1000) - 1  # endTime is inclusive; our ranges are half-open
        params: dict[str, str | int] = {
            "symbol": self.symbol,
            "interval": "1h",
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": 1000,
        }
        return self._http.get("/api/v3/klines", params)

    def _parse(self, payload: Any) -> Candles:
        if isinstance(payload, dict) and "code" in payload:
            raise ResponseError(self.name, f"error {payload.get('code')}: {str(payload.get('msg'))[:160]!r}")
        if not isinstance(payload, list):
            raise ResponseError(self.name, f"expected a list of klines, got {type(payload).__name__}")
        times: list[int] = []
        values: list[list[float]] = []
        for row in payload:
            if not isinstance(row, list) or len(row) < 7 or not isinstance(row[0], int):
                raise ResponseError(self.name, f"changed schema: unexpected kline {str(row)[:120]!r}")
            if row[6] != row[0] + _HOUR_MS - 1:
                raise ResponseError(self.name, f"kline {row[0]} is not one hour long (close time {row[6]})")
            times.append(row[0])
            values.append(numbers(self.name, row, (1, 2, 3, 4, 5)))
        return rows_to_candles(
            self.name,
            np.asarray(times, dtype=np.int64) * 1_000_000,
            np.asarray(values, dtype="float64").reshape(-1, 5),
            order="ascending",
        )
