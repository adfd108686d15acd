#!/usr/bin/env python
"""Regenerate the bundled candle files from the shared CryptoDataDownload exports.

    .venv/bin/python scripts/build_bundled_data.py [--source-dir tests/market/fixtures/cryptodatadownload]

Runs the project's own CSV importer (allora_worker.market.csv_source), so the bundled data is
cleaned exactly as any user import is, and writes byte-for-byte reproducible gzip files
(mtime 0, no embedded file name, fixed float formatting).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
from pathlib import Path

import pandas as pd

from allora_worker.market.bundled import BUNDLED_FILES
from allora_worker.market.csv_source import read_cryptodatadownload

SOURCES = {
    "binance": "Binance_BTCUSDT_1h_2017-08_2021-06.csv.gz",
    "coinbase": "Coinbase_BTCUSD_1h.csv.gz",
}
OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "allora_worker" / "data"


RAW_EXPORTS = Path(__file__).resolve().parents[1] / "tests" / "market" / "fixtures" / "cryptodatadownload"


def render(frame: pd.DataFrame) -> bytes:
    """CSV text in the bundled format: `open_time` as ISO UTC with a Z, shortest float repr."""
    out = frame.copy()
    out.index = out.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    buf = io.StringIO()
    # %.15g: every value came from a decimal string of at most 15 significant digits, so this
    # round-trips exactly and writes 4360 rather than 4360.0.
    out.to_csv(buf, index_label="open_time", lineterminator="\n", float_format="%.15g")
    return buf.getvalue().encode("utf-8")


def write_gzip(path: Path, payload: bytes) -> None:
    raw = io.BytesIO()
    # mtime=0 and an empty name keep the bytes identical from run to run and machine to machine.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    path.write_bytes(raw.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source-dir", type=Path, default=RAW_EXPORTS)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    for name, filename in SOURCES.items():
        frame, report = read_cryptodatadownload(args.source_dir / filename)
        target = args.out_dir / BUNDLED_FILES[name]
        write_gzip(target, render(frame))
        digest = hashlib.sha256(target.read_bytes()).hexdigest()[:16]
        print(report.summary())
        for when, why in sorted(report.dropped.items()):
            print(f"  dropped {when}: {why}")
        print(f"  -> {target} ({target.stat().st_size} bytes, sha256 {digest}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
