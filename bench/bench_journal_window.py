"""CPU of one window's journal writes on a directory's filesystem (the durability's kernel work).

    python bench/bench_journal_window.py --dir /var/lib/x --windows 200 --sequence cycle
    python bench/bench_journal_window.py --dir /dev/shm --sequence seven   # tmpfs, the pre-32aa7a2 calls

`cycle` is what a window's accepted submission and one heartbeat journal now (claim; signed with
the prediction; broadcast; confirmed; balance and scores: five commits). `seven` is the sequence
before 32aa7a2 (the prediction, the balance and the score each in a commit of its own). Each
commit of the SQLite journal is fsync'd and checkpointed (journal.py `_tx`). CPU is this
process's user + system time (`getrusage`) over the measured windows, after 10 warm-up windows.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

from allora_worker.journal import Journal

TXHASH = "AB" * 32
MODEL_HASH = "ab" * 32
DATA_WINDOW = "replay:2025-01-01T00:00:00+00:00..2025-01-08T00:00:00+00:00#0123456789abcdef"


def cycle(j: Journal, n: int) -> None:
    j.claim(67, n)
    j.mark_signed(67, n, txhash=TXHASH, tx_bytes=os.urandom(420), sequence=n, value="0.0123",
                  model_hash=MODEL_HASH, data_window=DATA_WINDOW)
    j.mark_broadcast(67, n, txhash=TXHASH)
    j.mark_confirmed(67, n, txhash=TXHASH, height=n + 3)
    j.record_samples(balance=10**20 - n, scores={67: (1.0, 0.5)})


def seven(j: Journal, n: int) -> None:
    j.claim(67, n)
    j.record_prediction(67, n, value="0.0123", model_hash=MODEL_HASH, data_window=DATA_WINDOW)
    j.mark_signed(67, n, txhash=TXHASH, tx_bytes=os.urandom(420), sequence=n, value="0.0123")
    j.mark_broadcast(67, n, txhash=TXHASH)
    j.mark_confirmed(67, n, txhash=TXHASH, height=n + 3)
    j.record_balance(10**20 - n)
    j.record_score(67, score=1.0, lowest=0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="a fresh journal is made in a new directory here")
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--sequence", choices=("cycle", "seven"), default="cycle")
    args = ap.parse_args()
    window = cycle if args.sequence == "cycle" else seven
    with tempfile.TemporaryDirectory(dir=args.dir) as where, Journal(Path(where) / "journal.sqlite") as j:
        for k in range(10):
            window(j, 20 * (k + 1))
        before = resource.getrusage(resource.RUSAGE_SELF)
        for k in range(args.windows):
            window(j, 1000 + 20 * k)
        after = resource.getrusage(resource.RUSAGE_SELF)
    user = (after.ru_utime - before.ru_utime) / args.windows * 1e3
    system = (after.ru_stime - before.ru_stime) / args.windows * 1e3
    print(f"{args.sequence} on {args.dir}: {user + system:.2f} ms CPU per window "
          f"(user {user:.2f}, system {system:.2f}), {args.windows} windows")


if __name__ == "__main__":
    main()
