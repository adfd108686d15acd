"""Binance, Coinbase and Tiingo sources over httpx.MockTransport (the transport is fake, the
request building, retry policy and parsing under test are the real code)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest

from allora_worker.market.binance import BinanceSource
from allora_worker.market.clock import FixedClock
from allora_worker.market.coinbase import CoinbaseSource
from allora_worker.market.errors import (
    AuthError,
    RateLimited,
    ResponseError,
    SourceError,
    TransientSourceError,
)
from allora_worker.market.http import HttpPolicy, parse_retry_after
from allora_worker.market.tiingo import TiingoSource
from tests.market import recorded
from tests.market.conftest import utc

KEY = "tk_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
# Real candles the fake servers serve; the clock sits 20 minutes into the hour after LAST,
# so the server also has a still-forming candle at FORMING that must never be returned.
LAST = pd.Timestamp("2019-10-10 12:00", tz="UTC")
FORMING = LAST + pd.Timedelta(hours=1)
NOW = FORMING.to_pydatetime() + timedelta(minutes=20)
FAST = HttpPolicy(timeout=1.0, deadline=30.0, attempts=3, backoff_initial=0.01, backoff_max=0.02)


@pytest.fixture(scope="module")
def served(coinbase: pd.DataFrame) -> pd.DataFrame:
    """Real Coinbase candles up to LAST, plus a forming candle (a copy of LAST moved an hour)."""
    part = coinbase.loc[:LAST].iloc[-2000:].copy()
    forming = part.iloc[[-1]].copy()
    forming.index = pd.DatetimeIndex([FORMING], name="open_time")
    return pd.concat([part, forming])


def _ts(ms: str) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def binance_server(
    frame: pd.DataFrame, calls: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        q = request.url.params
        assert request.url.path == "/api/v3/klines" and q["symbol"] == "BTCUSDT" and q["interval"] == "1h"
        lo, hi, limit = _ts(q["startTime"]), _ts(q["endTime"]), int(q["limit"])
        part = frame.loc[(frame.index >= lo) & (frame.index <= hi)].iloc[:limit]
        return httpx.Response(200, json=recorded.binance_klines(part))

    return handle


def coinbase_server(
    frame: pd.DataFrame, calls: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        q = request.url.params
        assert request.url.path == "/products/BTC-USD/candles" and q["granularity"] == "3600"
        lo, hi = pd.Timestamp(q["start"]), pd.Timestamp(q["end"])
        if (hi - lo) / pd.Timedelta(hours=1) + 1 > 300:
            return httpx.Response(400, json={"message": "granularity too small for the requested time range"})
        part = frame.loc[(frame.index >= lo) & (frame.index <= hi)]
        return httpx.Response(200, json=recorded.coinbase_candles(part))

    return handle


def tiingo_server(
    frame: pd.DataFrame, calls: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.headers.get("Authorization") != f"Token {KEY}":
            return httpx.Response(401, json={"detail": "Invalid token."})
        q = request.url.params
        assert request.url.path == "/tiingo/crypto/prices" and q["resampleFreq"] == "1hour"
        lo, hi = pd.Timestamp(q["startDate"], tz="UTC"), pd.Timestamp(q["endDate"], tz="UTC")
        part = frame.loc[(frame.index >= lo) & (frame.index < hi)]
        return httpx.Response(200, json=recorded.tiingo_prices(part))

    return handle


SERVERS = {"binance": binance_server, "coinbase": coinbase_server, "tiingo": tiingo_server}


def make_source(kind: str, handler, sleeps: list[float] | None = None, now: datetime = NOW, policy=FAST):
    transport = httpx.MockTransport(handler)
    common = {
        "transport": transport,
        "clock": FixedClock(now),
        "policy": policy,
        "sleep": (sleeps if sleeps is not None else []).append,
    }
    if kind == "binance":
        return BinanceSource(**common)
    if kind == "coinbase":
        return CoinbaseSource(**common)
    return TiingoSource(api_key=KEY, **common)


@pytest.mark.parametrize("kind", ["binance", "coinbase", "tiingo"])
def test_success_multi_chunk_and_forming_hour_dropped(kind: str, served: pd.DataFrame) -> None:
    calls: list[httpx.Request] = []
    source = make_source(kind, SERVERS[kind](served, calls))
    hours = {"binance": 1500, "coinbase": 700, "tiingo": 2500}[kind]
    start = (LAST - pd.Timedelta(hours=hours - 1)).to_pydatetime()
    frame = source.fetch(start, FORMING.to_pydatetime() + timedelta(hours=5)).to_frame()
    expected = served.loc[start:LAST]
    assert frame.index[-1] == LAST  # the forming hour is not there
    assert frame.index.equals(expected.index)
    np.testing.assert_allclose(frame.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert list(frame.dtypes) == [np.float64] * 5 and str(frame.index.tz) == "UTC"
    assert len(calls) == {"binance": 2, "coinbase": 3, "tiingo": 2}[kind]  # chunked backfill
    assert source.name.startswith(kind)


def test_tiingo_key_only_in_header(served: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[httpx.Request] = []
    source = make_source("tiingo", tiingo_server(served, calls))
    with caplog.at_level(logging.DEBUG):
        source.fetch(LAST.to_pydatetime() - timedelta(hours=10), LAST.to_pydatetime())
    assert calls[0].headers["Authorization"] == f"Token {KEY}"
    assert KEY not in str(calls[0].url)
    assert KEY not in repr(source) and KEY not in repr(source._http)
    assert KEY not in caplog.text


def test_tiingo_wrong_key_is_auth_error_without_key(served: pd.DataFrame) -> None:
    def echo_401(request: httpx.Request) -> httpx.Response:
        # worst case: the provider echoes the header back in its error body
        return httpx.Response(401, json={"detail": f"Invalid token {request.headers['Authorization']}"})

    source = make_source("tiingo", echo_401)
    with pytest.raises(AuthError) as info:
        source.fetch(LAST.to_pydatetime() - timedelta(hours=10), LAST.to_pydatetime())
    assert "401" in str(info.value) and KEY not in str(info.value)


def test_tiingo_requires_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIINGO_API_KEY", raising=False)
    with pytest.raises(AuthError, match="TIINGO_API_KEY"):
        TiingoSource()


def _respond(response: httpx.Response):
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return response

    return handle, calls


def _rows(kind: str, frame: pd.DataFrame):
    return {
        "binance": recorded.binance_klines,
        "coinbase": recorded.coinbase_candles,
        "tiingo": recorded.tiingo_prices,
    }[kind](frame)


def _bad_rows(kind: str, frame: pd.DataFrame, mutate: str):
    part = frame.loc[:LAST].iloc[-10:].copy()
    if mutate in ("nan", "zero", "negative"):
        part.iloc[4, part.columns.get_loc("close")] = {"nan": np.nan, "zero": 0.0, "negative": -1.0}[mutate]
    if mutate == "duplicate":
        part = pd.concat([part.iloc[:5], part.iloc[[4]], part.iloc[5:]])
    if mutate == "out_of_order":
        part = part.iloc[[0, 1, 3, 2, 4, 5, 6, 7, 8, 9]]
    payload = _rows(kind, part)
    if mutate == "nan" and kind == "binance":
        payload[4][4] = "NaN"  # Binance sends prices as strings
    if mutate == "nan" and kind == "tiingo":
        payload[0]["priceData"][4]["close"] = None  # JSON null
    return payload


def _changed_schema(kind: str, frame: pd.DataFrame):
    part = frame.loc[:LAST].iloc[-3:]
    if kind == "binance":
        return [{"openTime": int(t.timestamp() * 1000), "open": r.open} for t, r in part.iterrows()]
    if kind == "coinbase":
        return [[int(t.timestamp()), r.low, r.high, r.open, r.close] for t, r in part.iterrows()][::-1]
    body = recorded.tiingo_prices(part)
    for bar in body[0]["priceData"]:
        bar["closePrice"] = bar.pop("close")
    return body


BAD = [
    "html",
    "empty",
    "401",
    "500",
    "schema",
    "nan",
    "zero",
    "negative",
    "duplicate",
    "out_of_order",
    "not_json",
]


@pytest.mark.parametrize("kind", ["binance", "coinbase", "tiingo"])
@pytest.mark.parametrize("bad", BAD)
def test_bad_responses_raise_clear_errors(kind: str, bad: str, served: pd.DataFrame) -> None:
    responses = {
        "html": lambda: httpx.Response(200, text=recorded.HTML_ERROR, headers={"Content-Type": "text/html"}),
        "empty": lambda: httpx.Response(200, json=[]),
        "401": lambda: httpx.Response(401, json={"detail": "Invalid token."}),
        "500": lambda: httpx.Response(500, text="Internal Server Error"),
        "schema": lambda: httpx.Response(200, json=_changed_schema(kind, served)),
        "not_json": lambda: httpx.Response(200, text='[[1570708800000, "8571.0", '),
    }
    if bad in responses:
        response = responses[bad]()
    else:
        # json.dumps writes a float NaN as the bare `NaN` token some servers emit
        body = json.dumps(_bad_rows(kind, served, bad)).encode()
        response = httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    handler, calls = _respond(response)
    sleeps: list[float] = []
    source = make_source(kind, handler, sleeps)
    expected = {
        "html": (ResponseError, "HTML page"),
        "empty": (ResponseError, "no closed candles"),
        "401": (AuthError, "401"),
        "500": (TransientSourceError, "HTTP 500"),
        "schema": (ResponseError, "schema|unexpected"),
        "not_json": (ResponseError, "not JSON"),
        "nan": (ResponseError, "NaN/zero/negative"),
        "zero": (ResponseError, "NaN/zero/negative"),
        "negative": (ResponseError, "NaN/zero/negative"),
        "duplicate": (ResponseError, "duplicated"),
        "out_of_order": (ResponseError, "out of order"),
    }[bad]
    with pytest.raises(expected[0], match=expected[1]) as info:
        source.fetch(LAST.to_pydatetime() - timedelta(hours=9), LAST.to_pydatetime() + timedelta(hours=1))
    assert source.name in str(info.value)
    # only server errors are retried; everything else fails on the first answer
    assert len(calls) == (FAST.attempts if bad == "500" else 1)
    assert len(sleeps) == (FAST.attempts - 1 if bad == "500" else 0)


@pytest.mark.parametrize("kind", ["binance", "coinbase", "tiingo"])
def test_429_retry_after_is_honoured_then_succeeds(kind: str, served: pd.DataFrame) -> None:
    calls: list[httpx.Request] = []
    good = SERVERS[kind](served, calls)
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})])

    def handle(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or good(request)

    sleeps: list[float] = []
    source = make_source(kind, handle, sleeps)
    frame = source.fetch(LAST.to_pydatetime() - timedelta(hours=9), LAST.to_pydatetime() + timedelta(hours=1))
    assert sleeps == [7.0]
    assert len(frame) == 10


def test_persistent_429_gives_up_with_rate_limited(served: pd.DataFrame) -> None:
    handler, calls = _respond(httpx.Response(429, headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    source = make_source("binance", handler, sleeps)
    with pytest.raises(RateLimited) as info:
        source.fetch(LAST.to_pydatetime() - timedelta(hours=9), LAST.to_pydatetime())
    assert info.value.retry_after == 2.0 and sleeps == [2.0, 2.0] and len(calls) == 3


def test_retry_after_beyond_deadline_fails_at_once(served: pd.DataFrame) -> None:
    handler, calls = _respond(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []
    source = make_source("coinbase", handler, sleeps)
    with pytest.raises(RateLimited):
        source.fetch(LAST.to_pydatetime() - timedelta(hours=9), LAST.to_pydatetime())
    assert sleeps == [] and len(calls) == 1


def test_timeouts_are_retried_then_reported(served: pd.DataFrame) -> None:
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        assert request.extensions["timeout"]["read"] <= FAST.timeout
        raise httpx.ReadTimeout("slow", request=request)

    source = make_source("binance", handle)
    with pytest.raises(TransientSourceError, match="timed out"):
        source.fetch(LAST.to_pydatetime() - timedelta(hours=9), LAST.to_pydatetime())
    assert len(calls) == FAST.attempts


def test_provider_error_bodies_are_reported(served: pd.DataFrame) -> None:
    handler, _ = _respond(httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."}))
    with pytest.raises(ResponseError, match="Invalid symbol"):
        make_source("binance", handler).fetch(utc(2019, 10, 1), utc(2019, 10, 2))


def test_only_forming_hour_requested_is_an_error(served: pd.DataFrame) -> None:
    calls: list[httpx.Request] = []
    source = make_source("binance", binance_server(served, calls))
    with pytest.raises(SourceError, match="empty range"):
        source.fetch(FORMING.to_pydatetime(), FORMING.to_pydatetime() + timedelta(hours=1))
    assert calls == []


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
