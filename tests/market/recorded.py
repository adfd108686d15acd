"""Provider responses in each provider's documented shape, filled with real candles.

The shapes follow the providers' documentation (Binance GET /api/v3/klines rows of 12 fields
with string prices; Coinbase Exchange GET /products/{id}/candles rows [time, low, high, open,
close, volume] newest first; Tiingo GET /tiingo/crypto/prices a list of ticker objects with
`priceData`). The values are real bundled candles, so parsing is checked against known truth.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

HOUR_MS = 3_600_000


def binance_klines(frame: pd.DataFrame) -> list[list[Any]]:
    rows = []
    for t, r in frame.iterrows():
        ms = int(t.timestamp() * 1000)
        rows.append(
            [
                ms,
                f"{r.open:.8f}",
                f"{r.high:.8f}",
                f"{r.low:.8f}",
                f"{r.close:.8f}",
                f"{r.volume:.8f}",
                ms + HOUR_MS - 1,
                f"{r.volume * r.close:.8f}",
                1234,
                f"{r.volume / 2:.8f}",
                f"{r.volume * r.close / 2:.8f}",
                "0",
            ]
        )
    return rows


def coinbase_candles(frame: pd.DataFrame) -> list[list[Any]]:
    rows = [[int(t.timestamp()), r.low, r.high, r.open, r.close, r.volume] for t, r in frame.iterrows()]
    return rows[::-1]  # newest first, as documented


def tiingo_prices(frame: pd.DataFrame, ticker: str = "btcusd") -> list[dict[str, Any]]:
    bars = [
        {
            "date": t.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "open": r.open,
            "high": r.high,
            "low": r.low,
            "close": r.close,
            "volume": r.volume,
            "volumeNotional": r.volume * r.close,
            "tradesDone": 321.0,
        }
        for t, r in frame.iterrows()
    ]
    return [{"ticker": ticker, "baseCurrency": "btc", "quoteCurrency": "usd", "priceData": bars}]


HTML_ERROR = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
