"""Bad data that sticks: a spike candle cached from a faulty provider no longer fails every later
window once the provider is fixed; the cached rows are refetched and replaced (real bundled
candles, a real SQLite cache)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from allora_worker.candles import Candles
from allora_worker.market.cache import CandleCache
from allora_worker.market.clock import FixedClock
from allora_worker.market.errors import DataUnavailable
from allora_worker.market.provider import CandleProvider
from allora_worker.market.replay import ReplaySource

pytestmark = [pytest.mark.reliability]

HOURS = 24 * 7
NOW = datetime(2019, 6, 30, 0, 10, tzinfo=pd.Timestamp(0, tz="UTC").tzinfo)


class Flaky:
    """The real replayed source; while `faulty`, it prints one hour at ten times its price."""

    def __init__(self, inner: ReplaySource) -> None:
        self.inner = inner
        self.name = inner.name
        self.faulty = True

    def fetch(self, start: datetime, end: datetime) -> Candles:
        candles = self.inner.fetch(start, end)
        if not (self.faulty and len(candles) > 10):
            return candles
        values = candles.values.copy()
        values[-10, :4] *= 10  # open, high, low, close
        return Candles(candles.times, values)


def test_a_cached_spike_is_refetched_and_replaced_once_the_provider_is_fixed(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    source = Flaky(ReplaySource.bundled("binance", clock))
    with CandleCache(tmp_path / "candles.sqlite") as cache:
        provider = CandleProvider(source, cache=cache)
        with pytest.raises(DataUnavailable, match="spike"):
            provider.get_checked_window(HOURS, NOW)
        source.faulty = False  # the provider is fixed; the spike is still in our cache
        clock.advance(timedelta(hours=1))
        window = provider.get_checked_window(HOURS, clock.now())
        spiked_hour = window.frame.index[-11]
        good = source.inner.fetch(spiked_hour.to_pydatetime(), (spiked_hour + pd.Timedelta(hours=1)).to_pydatetime())
        cached = cache.read(source.name, spiked_hour.to_pydatetime(),
                            (spiked_hour + pd.Timedelta(hours=1)).to_pydatetime())
    assert cached.close[0] == pytest.approx(good.close[0])
