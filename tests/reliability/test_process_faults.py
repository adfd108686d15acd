"""Faults around the process: a full log disk, an unwritable state directory, a second instance on the
same wallet, and wall-clock jumps.

Running as root (as CI containers often do), `chmod` does not stop a write. What does stop root:
- a path *under a regular file* (`ENOTDIR`: no directory can ever be created there);
- `chattr +i` (the ext4/xfs immutable flag; root must clear it first): it blocks writes even
  through a file descriptor opened before the flag was set, which is how the journal is written.
- `/dev/full` as the log file: every write fails with ENOSPC, exactly what a full disk does.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_ADDRESS

from .conftest import Rig, free_port, healthz, wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

EPOCH, WINDOW = 30, 25


def _rig(make_rig) -> Rig:  # type: ignore[no-untyped-def]
    return make_rig(epoch=EPOCH, window=WINDOW, epoch_offset=25)


def test_log_disk_full_logging_fails_loop_lives(make_rig) -> None:
    rig = _rig(make_rig)
    daemon = rig.start(rig.config(extra={"log": {"file": "/dev/full"}}))
    daemon.wait_for_line("DAEMON MODE STARTED")
    first = rig.next_nonce()
    for k in range(3):
        rig.wait_accepted(first + k * EPOCH, timeout=20)
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    # The file handler failed (reported once on stderr); the console kept the record.
    assert daemon.text().count("log handler failed, continuing without it") == 1
    assert "No space left on device" in daemon.text()
    rig.assert_no_duplicates()


def test_console_and_log_file_both_on_a_full_disk(make_rig) -> None:
    rig = _rig(make_rig)
    port = free_port()
    daemon = rig.start(rig.config(extra={"log": {"file": "/dev/full"}}, health_port=port),
                       output=Path("/dev/full"))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get(url + "/healthz") is not None, 30, "the health server")
    first = rig.next_nonce()
    for k in range(3):
        rig.wait_accepted(first + k * EPOCH, timeout=20)
    assert daemon.process.poll() is None and healthz(url) == 200
    assert daemon.stop() == 0
    rig.assert_no_duplicates()


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read()
    except OSError:
        return None


def test_state_dir_that_cannot_be_created_refuses_to_start(make_rig, tmp_path: Path) -> None:
    rig = _rig(make_rig)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file where the state directory's parent should be\n")
    daemon = rig.start(rig.config(state_dir=blocker / "state"))
    code = daemon.wait(timeout=30)
    assert code in (2, 3), f"exit {code}:\n{daemon.text()[-3000:]}"
    assert "not-a-directory" in daemon.text() and "Traceback" not in daemon.text()
    assert rig.dn.state.counters["txs_seen"] == 0


chattr = shutil.which("chattr")


def _immutable(path: Path, on: bool) -> bool:
    result = subprocess.run([chattr or "chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return result.returncode == 0


@pytest.mark.skipif(chattr is None, reason="chattr (e2fsprogs) is not installed")
def test_state_dir_made_read_only_mid_run_refuses_to_broadcast(make_rig) -> None:
    rig = _rig(make_rig)
    daemon = rig.start(rig.config())
    daemon.wait_for_line("DAEMON MODE STARTED")
    rig.wait_accepted(rig.next_nonce(), timeout=20)
    wal = rig.state_dir / "journal.sqlite-wal"
    files = [p for p in (rig.state_dir, rig.state_dir / "journal.sqlite", wal) if p.exists()]
    if not _immutable(files[0], True):
        pytest.skip("this filesystem does not support the immutable flag")
    try:
        for path in files[1:]:
            assert _immutable(path, True)
        txs_before = rig.dn.state.counters["txs_seen"]
        seen = rig.accepted_nonces()
        blocked = rig.next_nonce()
        rig.wait_height(blocked + WINDOW + 1)
        # Nothing was broadcast: a tx the journal cannot record first is never sent.
        assert rig.dn.state.counters["txs_seen"] == txs_before
        assert rig.accepted_nonces() == seen
        assert daemon.process.poll() is None
        text = daemon.text()
        assert "readonly" in text or "read-only" in text or "Operation not permitted" in text or "disk I/O" in text
        # ... and says why, in words an operator acts on.
        assert "cannot be written" in text and "refusing to submit" in text
    finally:
        for path in reversed(files):
            _immutable(path, False)
    rig.wait_accepted(rig.next_nonce(), timeout=20)
    assert daemon.stop() == 0
    rig.assert_no_duplicates()


def test_second_instance_on_the_same_wallet_is_refused_and_names_the_holder(make_rig) -> None:
    rig = _rig(make_rig)
    config = rig.config()
    first = rig.start(config)
    first.wait_for_line("DAEMON MODE STARTED")
    second = rig.start(config)
    assert second.wait(timeout=30) == 3
    assert f"pid {first.pid}" in second.text()
    assert first.process.poll() is None
    rig.wait_accepted(rig.next_nonce(), timeout=20)
    assert first.stop() == 0
    rig.assert_no_duplicates()
    assert TEST_ADDRESS in (rig.state_dir / f"worker-{TEST_ADDRESS}.lock").name


FAKETIME_LIBS = [Path(p) for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                   "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                   "/usr/local/lib/faketime/libfaketime.so.1")]
LIBFAKETIME = next((p for p in FAKETIME_LIBS if p.exists()), None)


@pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime not installed (Debian: apt-get install faketime)")
def test_wall_clock_jumps_forward_and_back(make_rig, tmp_path: Path) -> None:
    """The daemon's wall clock jumps +2 days, then -3 days (libfaketime; monotonic time untouched).

    Pacing (poll intervals, block-time estimate, confirm deadlines, endpoint cool-downs) and the
    replay clock run on monotonic time, so submissions go on, once per window.
    """
    rig = _rig(make_rig)
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_NO_CACHE": "1",
           "DONT_FAKE_MONOTONIC": "1"}
    port = free_port()
    daemon = rig.start(rig.config(health_port=port), env=env)
    daemon.wait_for_line("DAEMON MODE STARTED")
    url = f"http://127.0.0.1:{port}"
    rig.wait_accepted(rig.next_nonce(), timeout=20)
    for jump in ("+2d", "-3d"):
        offset.write_text(jump + "\n")
        time.sleep(0.2)
        n = rig.next_nonce()
        rig.wait_accepted(n, timeout=20)
        rig.wait_accepted(n + EPOCH, timeout=20)
        assert healthz(url) == 200
    assert daemon.stop() == 0
    rig.assert_no_duplicates()
    # The jump was real for the daemon: its log timestamps are three days before the real date.
    assert time.strftime("%Y-%m-%dT", time.gmtime(time.time() - 3 * 86400)) in daemon.text()


@pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime not installed (Debian: apt-get install faketime)")
def test_uptime_survives_a_wall_clock_step_back(make_rig, tmp_path: Path) -> None:
    rig = _rig(make_rig)
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_NO_CACHE": "1",
           "DONT_FAKE_MONOTONIC": "1"}
    daemon = rig.start(rig.config(), env=env)
    daemon.wait_for_line("HEARTBEAT: up")
    offset.write_text("-3d\n")
    before = daemon.text().count("HEARTBEAT: up")
    match = daemon.wait_for_line(r"HEARTBEAT: up (-?\d+)h", count=before + 1, timeout=10)
    assert daemon.stop() == 0
    assert int(match.group(1)) == 0, match.group(0)
