"""The daemon's data and predict path never imports pandas (it is ~40 MB of the daemon's RSS).

A fresh interpreter imports what `allora-worker run` imports (the CLI and the worker service),
then runs the live path the default sources take: Binance cross-checked by Coinbase through the
candle cache, and Tiingo alone, each over its real HTTP client (httpx with a mock transport
serving the bundled real candles in the provider's documented shape), the checks, and the
default (ridge) bundle's prediction. The replay source is covered by `run --once` in
test_slim_install.py. Training, backtests, the `data` commands and plugins still use pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# argv: bundle dir, cache path, output file. Prints nothing; writes what it saw as JSON.
LIVE_PATH = r'''
import json, sys
from datetime import UTC, datetime, timedelta

import httpx

import allora_worker.cli  # noqa: F401  (what `allora-worker run` loads)
import allora_worker.worker.service  # noqa: F401
from allora_worker.candles import HOUR_NS, from_ns, to_ns
from allora_worker.market.binance import BinanceSource
from allora_worker.market.bundled import load_bundled_candles
from allora_worker.market.cache import CandleCache
from allora_worker.market.clock import FixedClock
from allora_worker.market.coinbase import CoinbaseSource
from allora_worker.market.provider import CandleProvider
from allora_worker.market.tiingo import TiingoSource
from allora_worker.model.bundle import load_bundle

bundle_dir, cache_path, out = sys.argv[1:4]
NOW = datetime(2019, 6, 30, 0, 10, tzinfo=UTC)  # inside both real data sets
binance, coinbase = load_bundled_candles("binance"), load_bundled_candles("coinbase")


def rows(candles, lo_ns, hi_ns):
    part = candles.between(lo_ns, min(hi_ns, to_ns(NOW)))  # up to the forming hour, as providers do
    return [(int(t), *map(float, v)) for t, v in zip(part.times, part.values)]


def binance_api(request):
    q = request.url.params
    lo, hi = int(q["startTime"]) * 10**6, (int(q["endTime"]) + 1) * 10**6
    return httpx.Response(200, json=[[t // 10**6, str(o), str(h), str(l), str(c), str(v), t // 10**6 + 3_599_999,
                                      "0", 1, "0", "0", "0"] for t, o, h, l, c, v in rows(binance, lo, hi)][:1000])


def coinbase_api(request):
    q = request.url.params
    lo = to_ns(datetime.fromisoformat(q["start"].replace("Z", "+00:00")))
    hi = to_ns(datetime.fromisoformat(q["end"].replace("Z", "+00:00"))) + HOUR_NS
    return httpx.Response(200, json=[[t // 10**9, l, h, o, c, v] for t, o, h, l, c, v in rows(coinbase, lo, hi)][::-1])


def tiingo_api(request):
    q = request.url.params
    lo = to_ns(datetime.fromisoformat(q["startDate"]).replace(tzinfo=UTC))
    hi = to_ns(datetime.fromisoformat(q["endDate"]).replace(tzinfo=UTC)) + 24 * HOUR_NS
    bars = [{"date": from_ns(t).strftime("%Y-%m-%dT%H:%M:%S+00:00"), "open": o, "high": h, "low": l, "close": c,
             "volume": v, "volumeNotional": v * c, "tradesDone": 1.0} for t, o, h, l, c, v in rows(binance, lo, hi)]
    return httpx.Response(200, json=[{"ticker": "btcusd", "baseCurrency": "btc", "quoteCurrency": "usd",
                                      "priceData": bars}])


clock = FixedClock(NOW)
bundle = load_bundle(bundle_dir)
seen = {}
with CandleCache(cache_path) as cache:
    cross = CandleProvider(BinanceSource(transport=httpx.MockTransport(binance_api), clock=clock),
                           CoinbaseSource(transport=httpx.MockTransport(coinbase_api), clock=clock), cache=cache)
    for label, provider in (("binance+coinbase", cross), ("binance+coinbase, cached", cross),
                            ("tiingo", CandleProvider(TiingoSource(api_key="k", clock=clock,
                                                      transport=httpx.MockTransport(tiingo_api))))):
        window = provider.get_checked_window(bundle.history_hours, NOW)
        seen[label] = [window.source_name, window.cross_checked_with, len(window.candles),
                       window.last_open_time.isoformat(), bundle.predict(window.candles)]
last = to_ns(NOW) // HOUR_NS * HOUR_NS - HOUR_NS
direct = binance.between(last - (bundle.history_hours - 1) * HOUR_NS, last + 1)
seen["direct"] = bundle.predict(direct)
seen["pandas loaded"] = "pandas" in sys.modules
json.dump(seen, open(out, "w"))
'''


def test_the_live_data_and_predict_path_runs_without_pandas(tmp_path: Path, bundle_dir: Path) -> None:
    out = tmp_path / "seen.json"
    result = subprocess.run([sys.executable, "-c", LIVE_PATH, str(bundle_dir), str(tmp_path / "c.sqlite"), str(out)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(out.read_text())
    direct = seen.pop("direct")
    assert seen.pop("pandas loaded") is False
    assert seen == {
        "binance+coinbase": ["binance:BTCUSDT", "coinbase:BTC-USD", 727, "2019-06-29T23:00:00+00:00", direct],
        "binance+coinbase, cached": ["binance:BTCUSDT", "coinbase:BTC-USD", 727, "2019-06-29T23:00:00+00:00",
                                     direct],
        "tiingo": ["tiingo:btcusd", None, 727, "2019-06-29T23:00:00+00:00", direct],
    }
