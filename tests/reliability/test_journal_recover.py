"""The whole state directory lost after real submissions: `journal recover` rebuilds the journal from
the chain (GetTxsEvent by sender), the rows match what the lost journal held, and the restarted
daemon takes them as done: no second payload tx, not even a re-claim of a window still open.

Blocks are produced by this test and held from the moment the second window is accepted until the
restarted daemon has looked at it, so that window is still open whatever the machine's load.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
import time

import pytest

from allora_worker.journal import CONFIRMED
from harness.daemon import BINARY, wait_until

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def _recover(rig: Rig, config: os.PathLike[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_") and k != "MNEMONIC"}
    env["MNEMONIC_FILE"] = str(rig.key)
    return subprocess.run([str(BINARY), "--config", str(config), "journal", "recover", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def _calls(rig: Rig, method: str) -> int:
    assert rig.dn.devnet is not None
    return sum(n for service in rig.dn.devnet.services for path, n in service.calls.items()
               if path.endswith("/" + method))


def test_lost_state_dir_is_recovered_from_the_chain_and_nothing_is_sent_twice(make_rig) -> None:
    rig: Rig = make_rig(epoch=20, window=16, auto_blocks=False)
    hold = threading.Event()
    done = threading.Event()

    def produce() -> None:
        while not done.is_set():
            if not hold.is_set():
                rig.dn.advance_blocks(1)
            time.sleep(rig.block_time)

    def two_accepted() -> bool:
        if len(rig.accepted()) >= 2:
            hold.set()  # freeze the chain: the second window stays open
            return True
        return False

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        config = rig.config()
        first = rig.start(config)
        wait_until(two_accepted, 120, "two accepted windows")
        newest = max(rig.accepted_nonces())
        assert newest in rig.open_nonces(), "precondition: the newest accepted window is still open"
        assert first.stop() == 0, first.text()[-3000:]
        before = {e.nonce: (e.txhash.upper(), e.height) for e in rig.journal_entries() if e.state == CONFIRMED}
        assert newest in before and len(before) >= 2, before

        shutil.rmtree(rig.state_dir)  # journal, WAL, identity, candles, heartbeat: all gone
        recovered = _recover(rig, config, "--wait", "10")
        assert recovered.returncode == 0, recovered.stderr + recovered.stdout
        assert f"{len(before)} row(s) added" in recovered.stdout, recovered.stdout
        rows = {e.nonce: (e.txhash, e.height) for e in rig.journal_entries()}
        assert rows == before  # every landed payload, with its tx hash and height; nothing else
        assert all(e.state == CONFIRMED for e in rig.journal_entries())
        # Written private, as the daemon writes (the test process's umask is the usual 022).
        assert stat.S_IMODE(rig.state_dir.stat().st_mode) == 0o700
        assert {stat.S_IMODE(f.stat().st_mode) for f in rig.state_dir.iterdir() if f.is_file()} == {0o600}

        again = _recover(rig, config, "--wait", "0")  # idempotent on a sound journal
        assert again.returncode == 0 and "0 row(s) added" in again.stdout, again.stderr + again.stdout
        journal = rig.state_dir / "journal.sqlite"
        journal.write_bytes(b"")  # truncated: refused at start; recover sets it aside and rebuilds
        rebuilt = _recover(rig, config, "--wait", "0")
        assert rebuilt.returncode == 0, rebuilt.stderr + rebuilt.stdout
        assert "set aside: " in rebuilt.stdout and list(rig.state_dir.glob("journal.sqlite.refused-*"))
        assert {e.nonce: (e.txhash, e.height) for e in rig.journal_entries()} == before

        polls = _calls(rig, "GetUnfulfilledWorkerNonces")
        restarted = rig.start(config)
        # Its polls see the open window while the chain is frozen: with the recovered row it
        # neither claims nor signs for it.
        restarted.wait_for_line("DAEMON MODE STARTED", 90)
        wait_until(lambda: _calls(rig, "GetUnfulfilledWorkerNonces") >= polls + 3, 60, "polls of the frozen chain")
        hold.clear()
        following = rig.next_nonce(newest)
        rig.wait_accepted(following, timeout=90)
        assert restarted.stop() == 0, restarted.text()[-3000:]
    finally:
        done.set()
        producer.join(5)
    from allora_worker.journal import Journal

    with Journal(rig.state_dir / "journal.sqlite") as journal:
        events = journal.events(67, newest)
    assert [e.to_state for e in events] == [CONFIRMED], events  # never re-claimed after recovery
    assert events[0].detail is not None and events[0].detail.startswith("recovered from the chain")
    assert rig.payload_txs()[newest] == 1
    rig.assert_no_duplicates()
