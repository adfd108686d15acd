"""`allora-worker data import|show|backfill` against a temporary cache."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from allora_worker.cli import app
from allora_worker.market import sources
from allora_worker.market.binance import BinanceSource
from allora_worker.market.cache import CandleCache
from allora_worker.market.clock import FixedClock
from tests.market import recorded
from tests.market.conftest import COINBASE_CSV, utc

runner = CliRunner()


def test_import_then_show(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    result = runner.invoke(app, ["data", "import", COINBASE_CSV, "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    assert "kept 20111" in result.output and "csv:Coinbase_BTCUSD_1h.csv.gz" in result.output
    shown = runner.invoke(app, ["data", "show", "--cache", str(cache)])
    assert shown.exit_code == 0, shown.output
    assert "20111 candles, 2017-07-01 11:00 .. 2019-10-17 09:00 UTC" in shown.output
    assert "gaps: 0" in shown.output and "close 8035.88" in shown.output


def test_show_without_cache_fails(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "show", "--cache", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1


def test_backfill_fills_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binance: pd.DataFrame) -> None:
    served = binance.loc["2021-01-01":"2021-03-01"]

    def handle(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        lo = pd.Timestamp(int(q["startTime"]), unit="ms", tz="UTC")
        hi = pd.Timestamp(int(q["endTime"]), unit="ms", tz="UTC")
        return httpx.Response(200, json=recorded.binance_klines(served.loc[lo:hi]))

    def factory(name: str) -> BinanceSource:
        assert name == "binance"
        return BinanceSource(transport=httpx.MockTransport(handle), clock=FixedClock(utc(2021, 3, 2)))

    # the command imports the factory when it runs, from its module
    monkeypatch.setattr(sources, "make_http_source", factory)
    cache = tmp_path / "c.sqlite"
    args = ["data", "backfill", "--source", "binance", "--since", "2021-01-01", "--until", "2021-02-15"]
    result = runner.invoke(app, [*args, "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    with CandleCache(cache) as db:
        stored = db.read("binance:BTCUSDT").to_frame()
    expected = served.loc[: pd.Timestamp("2021-02-14 23:00", tz="UTC")]
    assert stored.index.equals(expected.index)
    assert f"stored {len(expected)} candles" in result.output
