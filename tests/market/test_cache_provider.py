"""Cache, replay source and the provider's fallback rules, on real bundled candles."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allora_worker.candles import Candles
from allora_worker.market.cache import CandleCache, default_cache_path
from allora_worker.market.checks import CheckConfig
from allora_worker.market.clock import FixedClock, ReplayClock
from allora_worker.market.errors import DataUnavailable, ResponseError, TransientSourceError
from allora_worker.market.provider import CandleProvider, data_hash
from allora_worker.market.replay import ReplaySource
from tests.market.conftest import utc

HOURS = 24 * 30
NOW = utc(2019, 6, 30, 0, 10)  # 2019-06-29 23:00 is the newest closed candle


class Recording:
    """Wraps a source, records each fetch range, optionally fails or corrupts."""

    def __init__(self, inner, fail: Exception | None = None, corrupt=None) -> None:
        self.inner = inner
        self.name = inner.name
        self.fail = fail
        self.corrupt = corrupt
        self.calls: list[tuple[datetime, datetime]] = []

    def fetch(self, start: datetime, end: datetime) -> Candles:
        self.calls.append((start, end))
        if self.fail is not None:
            raise self.fail
        candles = self.inner.fetch(start, end)
        return Candles.of(self.corrupt(candles.to_frame())) if self.corrupt else candles


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def binance_replay(clock: FixedClock) -> ReplaySource:
    return ReplaySource.bundled("binance", clock)


@pytest.fixture
def coinbase_replay(clock: FixedClock) -> ReplaySource:
    return ReplaySource.bundled("coinbase", clock)


@pytest.fixture
def cache(tmp_path: Path) -> CandleCache:
    with CandleCache(tmp_path / "candles.sqlite") as c:
        yield c


def test_replay_only_offers_closed_hours(binance_replay: ReplaySource, clock: FixedClock) -> None:
    assert binance_replay.name == "replay:bundled-binance"
    candles = binance_replay.fetch(utc(2019, 6, 29), utc(2019, 7, 2))
    assert candles.last == utc(2019, 6, 29, 23)
    clock.advance(timedelta(hours=1))
    assert binance_replay.fetch(utc(2019, 6, 29), utc(2019, 7, 2)).last == utc(2019, 6, 30, 0)
    with pytest.raises(ResponseError, match="replay:bundled-binance"):
        binance_replay.fetch(utc(2019, 7, 1), utc(2019, 7, 2))


def test_replay_clock_runs_from_its_start() -> None:
    wall = FixedClock(utc(2026, 1, 1))
    replay = ReplayClock(utc(2019, 6, 1), speed=60.0, wall=wall)
    wall.advance(timedelta(minutes=2))
    assert replay.now() == utc(2019, 6, 1, 2)


def test_cache_round_trip_and_missing(cache: CandleCache, binance: pd.DataFrame) -> None:
    part = binance.loc["2019-06-01":"2019-06-02 23:00"]
    assert cache.store("s", part.drop(index=part.index[5:8])) == 45
    back = cache.read("s", utc(2019, 6, 1), utc(2019, 6, 3)).to_frame()
    assert back.index.equals(part.drop(index=part.index[5:8]).index)
    np.testing.assert_array_equal(back.to_numpy(), part.drop(index=part.index[5:8]).to_numpy())
    assert cache.missing("s", utc(2019, 6, 1), utc(2019, 6, 3, 2)) == [
        (utc(2019, 6, 1, 5), utc(2019, 6, 1, 8)),
        (utc(2019, 6, 3), utc(2019, 6, 3, 2)),
    ]
    summary = cache.summary("s")
    assert summary.count == 45 and summary.missing_hours == 3
    assert summary.gaps == [
        (pd.Timestamp("2019-06-01 05:00", tz="UTC"), pd.Timestamp("2019-06-01 07:00", tz="UTC"))
    ]
    # replace on conflict (a provider revising a candle)
    revised = part.iloc[[0]].copy()
    revised["close"] = 1.0
    cache.store("s", revised)
    assert cache.read("s", utc(2019, 6, 1), utc(2019, 6, 1, 1)).close.item() == 1.0
    assert cache.sources() == ["s"]


def test_cache_is_wal_and_persistent(tmp_path: Path, binance: pd.DataFrame) -> None:
    path = tmp_path / "c.sqlite"
    with CandleCache(path) as c:
        c.store("s", binance.iloc[:10])
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with CandleCache(path) as c:
        assert len(c.read("s")) == 10


def test_default_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALLORA_WORKER_STATE_DIR", str(tmp_path))
    assert default_cache_path() == tmp_path / "candles.sqlite"
    monkeypatch.delenv("ALLORA_WORKER_STATE_DIR")
    assert default_cache_path() == Path.home() / ".allora-worker" / "candles.sqlite"


def test_primary_window_cross_checked(binance_replay, coinbase_replay, cache) -> None:
    provider = CandleProvider(binance_replay, coinbase_replay, cache=cache)
    window = provider.get_checked_window(HOURS, NOW)
    assert window.source_name == "replay:bundled-binance"
    assert window.cross_checked_with == "replay:bundled-coinbase"
    assert len(window.frame) == HOURS and window.last_open_time == pd.Timestamp("2019-06-29 23:00", tz="UTC")
    assert window.data_hash == data_hash(window.candles) and len(window.data_hash) == 64


def test_cache_fetches_only_what_it_lacks(binance_replay, cache, clock) -> None:
    source = Recording(binance_replay)
    provider = CandleProvider(source, cache=cache)
    first = provider.get_checked_window(HOURS, NOW)
    assert len(source.calls) == 1
    again = provider.get_checked_window(HOURS, NOW)
    assert len(source.calls) == 1 and again.data_hash == first.data_hash  # warm: no fetch
    clock.advance(timedelta(hours=1))
    later = provider.get_checked_window(HOURS, clock.now())
    assert source.calls[-1] == (utc(2019, 6, 30, 0), utc(2019, 6, 30, 1))  # just the new hour
    assert later.last_open_time == pd.Timestamp("2019-06-30 00:00", tz="UTC")


def test_primary_failing_uses_secondary(binance_replay, coinbase_replay) -> None:
    down = Recording(binance_replay, fail=TransientSourceError("binance", "HTTP 500 server error"))
    window = CandleProvider(down, coinbase_replay).get_checked_window(HOURS, NOW)
    assert window.source_name == "replay:bundled-coinbase" and window.cross_checked_with is None


def test_primary_failing_checks_uses_secondary(binance_replay, coinbase_replay) -> None:
    def gap(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(index=frame.index[100:104])

    window = CandleProvider(Recording(binance_replay, corrupt=gap), coinbase_replay).get_checked_window(
        HOURS, NOW
    )
    assert window.source_name == "replay:bundled-coinbase"


def test_gap_in_window_without_secondary_is_unavailable(binance_replay) -> None:
    def gap(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(index=frame.index[300])

    with pytest.raises(DataUnavailable, match=r"replay:bundled-binance: gap: 1 gap\(s\)"):
        CandleProvider(Recording(binance_replay, corrupt=gap)).get_checked_window(HOURS, NOW)


def test_disagreeing_sources_are_unavailable(binance_replay, coinbase_replay) -> None:
    def off(frame: pd.DataFrame) -> pd.DataFrame:
        frame[["open", "high", "low", "close"]] *= 1.08
        return frame

    with pytest.raises(DataUnavailable, match="disagree"):
        CandleProvider(binance_replay, Recording(coinbase_replay, corrupt=off)).get_checked_window(HOURS, NOW)


def test_both_failing_lists_both_reasons(binance_replay, coinbase_replay) -> None:
    a = Recording(binance_replay, fail=ResponseError("binance", "HTML page instead of JSON"))
    b = Recording(coinbase_replay, fail=TransientSourceError("coinbase", "timed out after 10.0s"))
    with pytest.raises(DataUnavailable) as info:
        CandleProvider(a, b).get_checked_window(HOURS, NOW)
    assert "HTML page" in str(info.value) and "timed out" in str(info.value)


def test_stale_source_is_unavailable(binance_replay, clock) -> None:
    # the bundled Binance data ends 2021-06-15 00:00; a week later it is stale
    clock.set(utc(2021, 6, 22))
    with pytest.raises(DataUnavailable, match=r"stale: last candle 2021-06-15T00:00:00\+00:00 is 6 days"):
        CandleProvider(binance_replay).get_checked_window(HOURS, clock.now())


def test_lag_within_tolerance_still_gives_a_full_window(binance_replay) -> None:
    def lag(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[:-1]  # newest hour not published yet

    window = CandleProvider(Recording(binance_replay, corrupt=lag)).get_checked_window(HOURS, NOW)
    assert len(window.frame) == HOURS and window.last_open_time == pd.Timestamp("2019-06-29 22:00", tz="UTC")
    strict = CheckConfig(max_staleness=timedelta(0))
    with pytest.raises(DataUnavailable, match="stale"):
        CandleProvider(Recording(binance_replay, corrupt=lag), config=strict).get_checked_window(HOURS, NOW)


def test_fetch_failure_with_fresh_cache_still_serves(binance_replay, cache) -> None:
    CandleProvider(binance_replay, cache=cache).get_checked_window(HOURS, NOW)
    down = Recording(binance_replay, fail=TransientSourceError("binance", "HTTP 503"))
    later = NOW + timedelta(hours=1)  # the cache lacks one hour: within the staleness tolerance
    window = CandleProvider(down, cache=cache).get_checked_window(HOURS, later)
    assert window.last_open_time == pd.Timestamp("2019-06-29 23:00", tz="UTC") and len(down.calls) == 1
    with pytest.raises(DataUnavailable, match="HTTP 503"):
        CandleProvider(down, cache=cache).get_checked_window(HOURS, later + timedelta(hours=1))


async def test_async_wrapper(binance_replay) -> None:
    window = await CandleProvider(binance_replay).aget_checked_window(48, NOW)
    assert len(window.frame) == 48
