"""Benchmark: one live prediction's latency, and training time on the bundled data.

Run: .venv/bin/python bench/bench_model.py [--model ridge|lightgbm] [--repeat 300]
Targets: prediction under 10 ms; training (walk-forward validation + final fit) under 60 s
on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")  # the 2-core target; LightGBM also pins 2 threads

import numpy as np

from allora_worker.candles import Candles
from allora_worker.market.bundled import load_bundled
from allora_worker.model import HISTORY_HOURS, load_bundle, train_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ridge", choices=["ridge", "lightgbm"])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()

    candles = load_bundled("binance")
    print(f"data: bundled binance, {len(candles)} hourly candles, cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"
        started = time.perf_counter()
        result = train_bundle(candles, out, model=args.model, fallback=False, data_source="bundled:binance")
        train_s = time.perf_counter() - started
        print(
            f"training ({args.model}, walk-forward {len(result.walk_forward.folds)} folds + final fit, "
            f"{result.train_rows} rows): {train_s:.2f} s  [target < 60 s]"
        )

        started = time.perf_counter()
        bundle = load_bundle(out)
        print(f"load_bundle (hash check + probe): {(time.perf_counter() - started) * 1e3:.2f} ms")
        started = time.perf_counter()
        bundle.verify()
        print(f"verify(): {(time.perf_counter() - started) * 1e3:.3f} ms")

        # The daemon hands over recent candles as numpy `Candles`, a bit longer than needed.
        frame = Candles.of(candles.iloc[-(HISTORY_HOURS + 48) :])
        bundle.predict(frame)  # warm-up (imports, caches)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            value = bundle.predict(frame)
            times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1e3
        print(
            f"predict() on {len(frame)} candles: median {np.median(ms):.2f} ms, "
            f"p95 {np.percentile(ms, 95):.2f} ms, "
            f"max {ms.max():.2f} ms over {args.repeat} calls  [target < 10 ms]  (value {value:+.6f})"
        )


if __name__ == "__main__":
    main()
