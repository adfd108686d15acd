"""Build a source by its short name (CLI and, later, settings wiring)."""

from __future__ import annotations

from allora_worker.market.binance import BinanceSource
from allora_worker.market.coinbase import CoinbaseSource
from allora_worker.market.http_source import HttpCandleSource
from allora_worker.market.tiingo import TiingoSource

SOURCE_NAMES = ("tiingo", "binance", "coinbase")


def make_http_source(name: str, **kwargs: object) -> HttpCandleSource:
    """`tiingo` (needs TIINGO_API_KEY), `binance` or `coinbase`, with BTC/USD(T) defaults."""
    factories = {"tiingo": TiingoSource, "binance": BinanceSource, "coinbase": CoinbaseSource}
    if name not in factories:
        raise ValueError(f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}")
    source: HttpCandleSource = factories[name](**kwargs)
    return source
