"""Tiingo crypto prices (the default source): GET /tiingo/crypto/prices, key required.

The key comes from `TIINGO_API_KEY` and travels only in the `Authorization: Token ...` header,
never in a URL, a log line, an exception or a repr; it is registered with the log redaction
filter as soon as it is read. Documented body: a list with one object per ticker,
`{"ticker", "baseCurrency", "quoteCurrency", "priceData": [{"date", "open", "high", "low",
"close", "volume", "volumeNotional", "tradesDone"}, ...]}`, oldest first, `date` being the
bar's start time. Requests are by calendar day, so each is widened to whole days and trimmed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from allora_worker.market.clock import Clock
from allora_worker.market.errors import AuthError, ResponseError
from allora_worker.market.http import HttpPolicy, JsonHttp
from allora_worker.market.http_source import HttpCandleSource
from allora_worker.market.parsing import rows_to_candles
from allora_worker.market.schema import Candles, to_ns
from allora_worker.secrets import register_secret

BASE_URL = "https://api.tiingo.com"
_FIELDS = ("open", "high", "low", "close", "volume")


class TiingoSource(HttpCandleSource):
    # Backfill in pieces of ~83 days: few requests against the hourly quota, small bodies.
    chunk_hours = 2000

    def __init__(
        self,
        ticker: str = "btcusd",
        *,
        api_key: str | None = None,
        base_url: str = BASE_URL,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Any = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("TIINGO_API_KEY", "")
        if not key.strip():
            raise AuthError(f"tiingo:{ticker}", "no API key: set TIINGO_API_KEY")
        register_secret(key)
        self.ticker = ticker.lower()
        self.name = f"tiingo:{self.ticker}"
        http = JsonHttp(
            self.name,
            base_url,
            headers={"Authorization": f"Token {key.strip()}", "Content-Type": "application/json"},
            policy=policy,
            transport=transport,
            sleep=sleep,
        )
        super().__init__(http, clock)

    def _request(self, lo: datetime, hi: datetime) -> Any:
        params = {
            "tickers": self.ticker,
            "startDate": lo.strftime("%Y-%m-%d"),
            # endDate is a day; ask one more so the last hours of `hi`'s day are included.
            "endDate": (hi + timedelta(days=1)).strftime("%Y-%m-%d"),
            "resampleFreq": "1hour",
        }
        return self._http.get("/tiingo/crypto/prices", params)

    def _parse(self, payload: Any) -> Candles:
        if isinstance(payload, dict) and "detail" in payload:
            raise ResponseError(self.name, f"error: {str(payload['detail'])[:160]!r}")
        if not isinstance(payload, list):
            raise ResponseError(self.name, f"expected a list of tickers, got {type(payload).__name__}")
        if not payload:
            return Candles.empty()
        entry = next(
            (e for e in payload if isinstance(e, dict) and e.get("ticker", "").lower() == self.ticker), None
        )
        if entry is None or not isinstance(entry.get("priceData"), list):
            raise ResponseError(self.name, f"changed schema: no priceData for {self.ticker!r}")
        bars = entry["priceData"]
        try:
            times = [bar["date"] for bar in bars]
            values = [[np.nan if bar[f] is None else float(bar[f]) for f in _FIELDS] for bar in bars]
        except (KeyError, TypeError, ValueError) as exc:
            raise ResponseError(
                self.name, f"changed schema: bad priceData bar ({type(exc).__name__}: {exc})"
            ) from None
        try:
            times_ns = np.array([to_ns(_utc(datetime.fromisoformat(t))) for t in times], dtype=np.int64)
        except (ValueError, TypeError) as exc:
            raise ResponseError(self.name, f"unparseable bar date: {exc}") from None
        return rows_to_candles(
            self.name, times_ns, np.asarray(values, dtype="float64").reshape(-1, 5), order="ascending"
        )


def _utc(moment: datetime) -> datetime:
    """Tiingo's dates carry `Z` or an offset; one without is read as UTC (as pandas' utc=True did)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
