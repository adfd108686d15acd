"""kill -9 right after a broadcast while the tx waits in the mempool, then the whole journal lost
(journal, WAL and identity file): the restarted daemon sees its pending tx through the chain and
sends no second payload tx (and no second fee) for that window; the next window is submitted.

Blocks are produced by this test (the devnet's clock is off) and held while our payload tx waits
in the mempool, so the tx is still pending when the new daemon starts: the case the chain's
"already submitted" simulation cannot catch.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from allora_worker.journal_guard import marker_path
from harness.daemon import wait_until
from tests.conftest import TEST_ADDRESS

from .conftest import TOPIC, Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def _payloads_pending(rig: Rig) -> int:
    with rig.dn.state.lock:
        pending = list(rig.dn.state.mempool)
    count = 0
    for item in pending:
        for _url, msg in item.tx.msgs:
            bundle = getattr(msg, "worker_data_bundle", None)
            if bundle is not None and bundle.worker == TEST_ADDRESS and bundle.topic_id == TOPIC:
                count += 1
    return count


def test_pending_tx_of_a_lost_journal_is_not_paid_twice(make_rig) -> None:
    rig: Rig = make_rig(epoch=40, window=30, epoch_offset=10, auto_blocks=False)
    hold = threading.Event()
    hold.set()
    done = threading.Event()

    def produce() -> None:
        # Held from the first claim on: the crashing daemon's broadcast then lands in a mempool that
        # no block empties until the test says so.
        while not done.is_set():
            if not (hold.is_set() and (_payloads_pending(rig) or rig.journal_entries_if_any())):
                rig.dn.advance_blocks(1)
            time.sleep(rig.block_time)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        config = rig.config()
        crashing = rig.start(config, crash_at="broadcast")
        assert crashing.wait(timeout=60) == -signal.SIGKILL, crashing.text()[-3000:]
        assert _payloads_pending(rig) == 1
        [entry] = rig.journal_entries()
        nonce = entry.nonce
        journal = rig.state_dir / "journal.sqlite"
        for lost in (journal, journal.with_name("journal.sqlite-wal"), journal.with_name("journal.sqlite-shm"),
                     marker_path(journal)):
            lost.unlink(missing_ok=True)

        restarted = rig.start(config)
        wait_until(lambda: "IN DOUBT" in restarted.text() or _payloads_pending(rig) > 1, 60,
                   "the new daemon to decide about the open window")
        hold.clear()
        rig.wait_accepted(nonce, timeout=30)
        following = rig.next_nonce(nonce)
        rig.wait_accepted(following, timeout=60)
        assert restarted.stop() == 0, restarted.text()[-3000:]
    finally:
        done.set()
        producer.join(5)
    assert rig.payload_txs()[nonce] == 1, (rig.payload_txs(), restarted.text()[-3000:])
    rig.assert_no_duplicates()
