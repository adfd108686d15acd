"""Window checks on real candles, each bad input built by corrupting a real window."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from allora_worker.market.checks import CheckConfig, CheckFailed, check_agreement, check_window, find_spikes
from allora_worker.market.schema import empty_frame
from tests.market.conftest import now_after, real_window

END = "2019-06-30 23:00"
HOURS = 24 * 30


@pytest.fixture
def window(binance: pd.DataFrame) -> pd.DataFrame:
    return real_window(binance, END, HOURS)


def failed(frame: pd.DataFrame, **kw) -> set[str]:
    now = kw.pop("now", None) or now_after(frame)
    return {f.check for f in check_window(frame, now=now, hours=kw.pop("hours", HOURS), **kw).failures}


def test_real_window_passes(window: pd.DataFrame) -> None:
    assert len(window) == HOURS
    assert failed(window) == set()


def test_every_complete_real_window_passes(binance: pd.DataFrame, coinbase: pd.DataFrame) -> None:
    """No false alarm on real history (2017-2021, the March 2020 crash included)."""
    for frame in (binance, coinbase):
        for end in range(HOURS, len(frame), HOURS // 2):
            part = frame.iloc[end - HOURS : end]
            if (part.index[-1] - part.index[0]) != timedelta(hours=HOURS - 1):
                continue  # contains a real gap; the gap test covers that
            assert failed(part) == set(), part.index[-1]


def test_stale(window: pd.DataFrame) -> None:
    assert failed(window, now=now_after(window) + timedelta(hours=1)) == set()  # one hour late: tolerated
    assert failed(window, now=now_after(window) + timedelta(hours=2)) == {"stale"}
    strict = CheckConfig(max_staleness=timedelta(0))
    assert failed(window, now=now_after(window) + timedelta(hours=1), config=strict) == {"stale"}


def test_unclosed_candle(window: pd.DataFrame) -> None:
    assert "unclosed" in failed(window, now=now_after(window) - timedelta(minutes=30))


def test_gap_inside_window(window: pd.DataFrame) -> None:
    gappy = window.drop(index=window.index[100:103])
    result = check_window(gappy, now=now_after(window), hours=HOURS)
    assert {f.check for f in result.failures} == {"gap"}
    assert "3:00:00 missing" in str(result)
    # a tolerance of 4 hours spacing accepts it (3 missing hours)
    assert failed(gappy, config=CheckConfig(max_gap=timedelta(hours=4))) == set()


def test_short_window_is_a_gap(window: pd.DataFrame) -> None:
    assert failed(window.iloc[10:]) == {"gap"}


@pytest.mark.parametrize("value", [np.nan, np.inf, 0.0, -5.0])
def test_bad_prices(window: pd.DataFrame, value: float) -> None:
    bad = window.copy()
    bad.iloc[200, bad.columns.get_loc("close")] = value
    assert "prices" in failed(bad)


def test_ohlc_inconsistent(window: pd.DataFrame) -> None:
    bad = window.copy()
    bad.iloc[50, bad.columns.get_loc("high")] = bad.iloc[50]["low"] * 0.99
    assert "ohlc" in failed(bad)


def test_bad_first_print_spike(window: pd.DataFrame) -> None:
    """The Binance file's first row, transplanted into a real window."""
    bad = window.copy()
    bad.iloc[300, :4] = [16199.91, 16199.91, 4261.32, bad.iloc[300]["close"]]
    assert failed(bad) == {"spike"}


def test_isolated_close_spike(window: pd.DataFrame) -> None:
    bad = window.copy()
    i = 400
    spike = bad.iloc[i]["close"] * 1.5
    bad.iloc[i, bad.columns.get_loc("close")] = spike
    bad.iloc[i, bad.columns.get_loc("high")] = spike
    bad.iloc[i + 1, bad.columns.get_loc("open")] = bad.iloc[i + 1]["open"]  # next candle unchanged
    assert bad.index[i] in find_spikes(bad, 0.5, 0.25)
    assert "spike" in failed(bad)


def test_duplicated_and_unsorted(window: pd.DataFrame) -> None:
    dup = pd.concat([window, window.iloc[[5]]])
    assert "order" in failed(dup)
    shuffled = window.iloc[::-1]
    assert "order" in failed(shuffled)


def test_empty() -> None:
    result = check_window(empty_frame(), now=pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime(), hours=24)
    assert not result.ok and result.failures[0].check == "empty"
    with pytest.raises(CheckFailed, match="empty: no candles"):
        result.raise_if_failed("binance")


def test_all_failures_reported_at_once(window: pd.DataFrame) -> None:
    bad = window.drop(index=window.index[10:12]).copy()
    bad.iloc[20, bad.columns.get_loc("open")] = np.nan
    assert failed(bad, now=now_after(bad) + timedelta(hours=5)) >= {"gap", "prices", "stale"}


def test_agreement(binance: pd.DataFrame, coinbase: pd.DataFrame) -> None:
    b = real_window(binance, END, HOURS)
    c = real_window(coinbase, END, HOURS)
    assert check_agreement(b, c).ok
    shifted = c.copy()
    shifted[["open", "high", "low", "close"]] *= 1.05  # a wrong symbol or a broken feed
    result = check_agreement(b, shifted, names=("binance", "coinbase"))
    assert [f.check for f in result.failures] == ["agreement"]
    assert "binance vs coinbase" in str(result)
    assert [f.check for f in check_agreement(b, c.iloc[:100]).failures] == ["overlap"]


def test_checks_do_not_depend_on_the_index_unit(binance: pd.DataFrame) -> None:
    """The bundled loader yields microsecond indexes, sources nanoseconds: same verdicts."""
    part = binance.loc["2017-09-20":"2017-09-30 23:00"]  # holds the real 4-hour gap of 2017-09-26
    for unit in ("s", "ms", "us", "ns"):
        frame = part.copy()
        frame.index = frame.index.as_unit(unit)
        result = check_window(frame, now=now_after(frame), hours=len(part) + 4)
        assert [f.check for f in result.failures] == ["gap"], unit
        assert "4:00:00 missing" in str(result)
