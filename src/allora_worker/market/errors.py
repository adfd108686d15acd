"""Errors of the market package: each says what failed, never a secret.

`SourceError` and its subclasses are a source failing (the provider chooses the secondary);
`DataUnavailable` is the provider's final word that no checked window exists this cycle (the
daemon logs it and skips the cycle).
"""

from __future__ import annotations


class MarketError(Exception):
    """Base of every error raised by allora_worker.market."""


class SchemaError(MarketError):
    """A frame or a provider response does not have the expected shape."""


class SourceError(MarketError):
    """A candle source could not deliver candles (network, HTTP, parsing, content)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class TransientSourceError(SourceError):
    """Worth retrying: timeouts, connection resets, 5xx, 429."""


class RateLimited(TransientSourceError):
    """HTTP 429 (or Binance 418): the provider asked us to wait `retry_after` seconds."""

    def __init__(self, source: str, message: str, retry_after: float | None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after


class AuthError(SourceError):
    """401/403: the key is missing, wrong or not entitled. Retrying will not help."""


class ResponseError(SourceError):
    """The response is not what the provider documents (HTML page, changed schema, bad values)."""


class DataUnavailable(MarketError):
    """No source produced a window that passed the checks; the message lists why, per source."""
