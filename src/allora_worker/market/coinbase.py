"""Coinbase Exchange public candles: GET /products/{id}/candles (no key), 300 per request.

Documented row: [time (unix seconds, bucket start), low, high, open, close, volume], newest
first. More than 300 buckets in one request is rejected, so requests cover 300 hours.
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
from allora_worker.market.schema import HOUR, Candles

BASE_URL = "https://api.exchange.coinbase.com"


class CoinbaseSource(HttpCandleSource):
    chunk_hours = 300

    def __init__(
        self,
        product: str = "BTC-USD",
        *,
        base_url: str = BASE_URL,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Any = None,
    ) -> None:
        self.product = product
        self.name = f"coinbase:{product}"
        super().__init__(JsonHttp(self.name, base_url, policy=policy, transport=transport, sleep=sleep), clock)

    def _request(self, lo: datetime, hi: datetime) -> Any:
        # `end` is inclusive: ask up to the last wanted bucket so a full chunk is exactly 300.
        params: dict[str, str | int] = {
            "granularity": 3600,
            "start": lo.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (hi - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return self._http.get(f"/products/{self.product}/candles", params)

    def _parse(self, payload: Any) -> Candles:
        if isinstance(payload, dict) and "message" in payload:
            raise ResponseError(self.name, f"error: {str(payload['message'])[:160]!r}")
        if not isinstance(payload, list):
            raise ResponseError(self.name, f"expected a list of candles, got {type(payload).__name__}")
        times: list[int] = []
        values: list[list[float]] = []
        for row in payload:
            if not isinstance(row, list) or len(row) != 6 or not isinstance(row[0], int):
                raise ResponseError(self.name, f"changed schema: unexpected candle {str(row)[:120]!r}")
            times.append(row[0])
            low, high, open_, close, volume = numbers(self.name, row, (1, 2, 3, 4, 5))
            values.append([open_, high, low, close, volume])
        return rows_to_candles(
            self.name,
            np.asarray(times, dtype=np.int64) * 1_000_000_000,
            np.asarray(values, dtype="float64").reshape(-1, 5),
            order="descending",
        )
