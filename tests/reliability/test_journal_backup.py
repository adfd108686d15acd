"""`journal backup` snapshots the live journal (SQLite online backup), checked, 0600, rotated; a
lost journal restored from a snapshot is accepted at start and no window is paid twice."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from allora_worker.journal import CONFIRMED
from harness.daemon import BINARY

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def _cli(rig: Rig, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env["MNEMONIC_FILE"] = str(rig.key)
    return subprocess.run([str(BINARY), "--config", str(config), "journal", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_backups_while_running_then_restore_after_the_journal_is_lost(make_rig) -> None:
    rig: Rig = make_rig()
    config = rig.config()
    daemon = rig.start(config)
    rig.wait_accepted_count(2, timeout=60)
    for _ in range(3):
        done = _cli(rig, config, "backup", "--keep", "2")
        assert done.returncode == 0, done.stderr
    snapshots = sorted((rig.state_dir / "backups").glob("journal-*.sqlite"))
    assert len(snapshots) == 2, snapshots
    for snapshot in snapshots:
        assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
        with sqlite3.connect(snapshot) as db:
            assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            assert db.execute("SELECT COUNT(*) FROM submissions WHERE state=?", (CONFIRMED,)).fetchone()[0] >= 2
    assert daemon.stop() == 0, daemon.text()[-3000:]

    journal = rig.state_dir / "journal.sqlite"
    journal.write_bytes(b"")
    lost = _cli(rig, config, "check")
    assert lost.returncode == 3 and "0 bytes" in lost.stderr, (lost.stdout, lost.stderr)
    shutil.copy(snapshots[-1], journal)
    assert _cli(rig, config, "check").returncode == 0
    before = len(rig.accepted())
    restored = rig.start(config)
    rig.wait_accepted_count(before + 2, timeout=60)
    assert restored.stop() == 0, restored.text()[-3000:]
    rig.assert_no_duplicates()
