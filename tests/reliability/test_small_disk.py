"""Disk full: the state directory on a real 512 KiB filesystem (tmpfs). The journal's WAL is
checkpointed at every commit and cut back to a bounded size, so it cannot grow to SQLite's 4 MB
auto-checkpoint and fill the disk; every window is still filled, once.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

import pytest

from allora_worker.journal import CONFIRMED

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

DISK_BYTES = 512 * 1024


def _mount_tmpfs(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_journal_wal_stays_bounded_on_a_512k_state_filesystem(make_rig) -> None:
    rig: Rig = make_rig()
    if not _mount_tmpfs(rig.state_dir):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    largest = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal largest
        wal = rig.state_dir / "journal.sqlite-wal"
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                largest = max(largest, wal.stat().st_size)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        # The default free-space reserve (1 MiB) is more than this whole disk: keep 64 KiB.
        daemon = rig.start(rig.config(extra={"state_min_free_kib": 64, "log": {"file": str(rig.root / "worker.log")}}))
        # The windows counted start once the daemon runs: on a loaded machine its start alone can
        # outlast a 2 s epoch, and a window that opened before it was up is not its to fill.
        daemon.wait_for_line("DAEMON MODE STARTED", 60)
        first = rig.next_nonce(rig.dn.height + rig.epoch)
        last = first + 11 * rig.epoch
        rig.wait_height(last + rig.window + 2, timeout=120)
        assert daemon.stop() == 0, daemon.text()[-3000:]
        journal = {e.nonce: e.state for e in rig.journal_entries()}
    finally:
        stop.set()
        watcher.join(5)
        subprocess.run(["umount", "-l", str(rig.state_dir)], capture_output=True)
    text = daemon.text()
    assert "cannot be written" not in text and "database or disk is full" not in text, text[-3000:]
    wanted = set(range(first, last + 1, rig.epoch))
    assert wanted <= rig.accepted_nonces(), sorted(wanted - rig.accepted_nonces())
    rig.assert_no_duplicates()
    assert all(journal.get(n) == CONFIRMED for n in wanted), journal
    assert largest < DISK_BYTES // 2, f"the WAL reached {largest} bytes"
