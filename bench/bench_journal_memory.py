#!/usr/bin/env python
"""Journal memory over many windows: does the daemon's RSS grow with its journal file?

    .venv/bin/python bench/bench_journal_memory.py [--windows 3000] [--cache-kib K]

Runs each window's real journal steps (claim, prediction, signed with ~420 tx bytes, broadcast,
confirmed, the in-flight query of every poll) on a fresh journal in a temp directory, and prints
the file size and this process's RSS growth ten times along the way. `--cache-kib` overrides the
journal's SQLite page cache (default: what the daemon uses, `JOURNAL_CACHE_KIB`); 2000 is
SQLite's own default.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from allora_worker.journal import JOURNAL_CACHE_KIB, Journal


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=3000)
    p.add_argument("--cache-kib", type=int, default=JOURNAL_CACHE_KIB)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite"
        with Journal(path) as journal:
            journal._db.execute(f"PRAGMA cache_size=-{args.cache_kib}")
            print(f"journal page cache {args.cache_kib} KiB, {args.windows} windows")
            base = rss_mb()
            t0 = time.perf_counter()
            step = max(1, args.windows // 10)
            for i in range(args.windows):
                nonce = 40 + 20 * i
                txhash = f"{i:064X}"
                journal.claim(67, nonce)
                journal.record_prediction(67, nonce, value="0.0051305295579434735", model_hash="b4" * 32,
                                          data_window="replay:bundled-binance:2020-02-05T09:00:00+00:00.."
                                          "2020-03-06T09:00:00+00:00#15a5a7c67293abcd")
                journal.mark_signed(67, nonce, txhash=txhash, tx_bytes=os.urandom(420), sequence=i)
                journal.mark_broadcast(67, nonce, txhash=txhash)
                journal.mark_confirmed(67, nonce, txhash=txhash, height=nonce + 3)
                journal.in_flight()
                if (i + 1) % step == 0:
                    print(f"{i + 1:6d} windows   file {path.stat().st_size / 2**20:5.2f} MB   "
                          f"RSS +{rss_mb() - base:5.2f} MB", flush=True)
            elapsed = time.perf_counter() - t0
    print(f"{elapsed / args.windows * 1000:.2f} ms of journal work per window (fsync'd)")


if __name__ == "__main__":
    main()
