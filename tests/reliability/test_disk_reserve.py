"""A nearly full disk: the state directory on a real 512 KiB filesystem (tmpfs), filled by a ballast
file until less than the configured reserve is free. The daemon signs nothing while it is low
(the journal might not record the next steps), says so in one ERROR for the whole stretch, and
submits again once the ballast is gone; no window is paid twice and no row is left in flight.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from allora_worker.journal import IN_FLIGHT

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

DISK_BYTES = 512 * 1024
RESERVE_KIB = 160


def _mount_tmpfs(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def _free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def test_below_the_free_space_reserve_nothing_is_signed_and_one_error_is_said(make_rig) -> None:
    rig: Rig = make_rig()
    if not _mount_tmpfs(rig.state_dir):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    ballast = rig.state_dir / "ballast"
    try:
        daemon = rig.start(rig.config(extra={"state_min_free_kib": RESERVE_KIB,
                                             "log": {"file": str(rig.root / "worker.log")}}))
        rig.wait_accepted_count(1, timeout=90)
        # Leave about half the reserve free: enough for SQLite, too little by the reserve.
        ballast.write_bytes(b"\0" * max(0, _free(rig.state_dir) - RESERVE_KIB * 1024 // 2))
        assert _free(rig.state_dir) < RESERVE_KIB * 1024
        daemon.wait_for_line(rf"below the {RESERVE_KIB} KiB reserve", timeout=60)
        low_since = rig.dn.height
        rig.wait_height(low_since + 3 * rig.epoch, timeout=90)
        ballast.unlink()
        low_until = rig.dn.height
        after = rig.next_nonce(low_until)
        rig.wait_accepted(after, timeout=90)
        assert daemon.stop() == 0, daemon.text()[-3000:]
        entries = rig.journal_entries()
    finally:
        subprocess.run(["umount", "-l", str(rig.state_dir)], capture_output=True)
    text = daemon.text()
    said = [line for line in text.splitlines() if f"below the {RESERVE_KIB} KiB reserve" in line]
    assert len(said) == 1 and "ERROR" in said[0] and "refusing to submit" in said[0], said
    # Windows that opened and closed while the disk was low: not one payload tx for them.
    low_windows = rig.windows_closed_between(low_since + 1, low_until)
    assert len(low_windows) >= 2, (low_since, low_until)
    sent = rig.payload_txs()
    assert not [n for n in low_windows if sent[n]], {n: sent[n] for n in low_windows}
    rig.assert_no_duplicates()
    assert not [e for e in entries if e.state in IN_FLIGHT], entries
