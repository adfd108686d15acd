#!/usr/bin/env python
"""Market data timings.

    .venv/bin/python bench/bench_market.py

1. Import of the bundled data (`load_bundled`, both files) and of the raw shared CSV exports
   through the CryptoDataDownload importer.
2. Time to produce a checked 30-day (720 h) window from a warm cache: CandleProvider over the
   replayed real Binance candles, cross-checked with Coinbase (target: under 50 ms).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from allora_worker.market.bundled import load_bundled
from allora_worker.market.cache import CandleCache
from allora_worker.market.clock import FixedClock
from allora_worker.market.csv_source import read_cryptodatadownload
from allora_worker.market.provider import CandleProvider
from allora_worker.market.replay import ReplaySource

SHARED = Path(__file__).resolve().parents[1] / "tests" / "market" / "fixtures" / "cryptodatadownload"
HOURS = 24 * 30
NOW = datetime(2019, 6, 30, 0, 10, tzinfo=UTC)


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report(label: str, ms: list[float]) -> None:
    print(f"{label:<58} median {statistics.median(ms):8.2f} ms   min {min(ms):8.2f} ms   (n={len(ms)})")


def main() -> None:
    report("load_bundled('binance')  (33,532 h)", timed(lambda: load_bundled("binance"), 5))
    report("load_bundled('coinbase') (20,111 h)", timed(lambda: load_bundled("coinbase"), 5))
    if SHARED.exists():
        raw = SHARED / "Binance_BTCUSDT_1h_2017-08_2021-06.csv.gz"
        report(
            "CSV import of the raw Binance export (all quirks)",
            timed(lambda: read_cryptodatadownload(raw), 3),
        )

    clock = FixedClock(NOW)
    with tempfile.TemporaryDirectory() as tmp, CandleCache(Path(tmp) / "candles.sqlite") as cache:
        single = CandleProvider(ReplaySource.bundled("binance", clock), cache=cache)
        dual = CandleProvider(
            ReplaySource.bundled("binance", clock), ReplaySource.bundled("coinbase", clock), cache=cache
        )
        report(
            "cold: first checked 720 h window (fills the cache)",
            timed(lambda: dual.get_checked_window(HOURS, NOW), 1),
        )
        report(
            "warm: checked 720 h window, one source",
            timed(lambda: single.get_checked_window(HOURS, NOW), 50),
        )
        report(
            "warm: checked 720 h window, two sources + agreement",
            timed(lambda: dual.get_checked_window(HOURS, NOW), 50),
        )


if __name__ == "__main__":
    main()
