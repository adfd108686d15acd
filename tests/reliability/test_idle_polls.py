"""Once every open window is filled, the daemon does not poll the chain again until the next window
is due (worker/scheduler.py, TopicLoop.next_sleep): each poll is two gRPC requests, and the plain
cadence (a quarter of a window) made ~5 of them per epoch, most of them after the submission.
And while a tx is confirmed, GetTx is asked once a block, not twice. Counted at the devnet per
window, every window still filled. A look before the next window is due reads only the open
nonces (TopicLoop._early): one request, not two."""

from __future__ import annotations

from collections import Counter

import pytest

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

WINDOWS = 5


def calls(rig: Rig) -> Counter[str]:
    assert rig.dn.devnet is not None
    counted: Counter[str] = Counter()
    for service in rig.dn.devnet.services:
        for path, n in list(service.calls.items()):
            counted[path.rsplit("/", 1)[-1]] += n
    return counted


def test_a_settled_window_is_polled_again_only_when_the_next_is_due_and_a_tx_looked_for_once_a_block(make_rig) -> None:
    # 0.2 s blocks, 4 s epochs, 3.2 s windows (the soaks' clock): the plain cadence polls every 0.8 s.
    rig: Rig = make_rig(block_time=0.2, epoch=20, window=16)
    daemon = rig.start(rig.config(extra={"chain": {"call_timeout_seconds": 10.0}}))
    daemon.wait_for_line("DAEMON MODE STARTED", 120)
    first = rig.next_nonce(rig.next_nonce())  # a whole epoch after READY: the block time is measured
    rig.wait_height(first - 1, 60)
    start = calls(rig)
    last = first + WINDOWS * rig.epoch
    rig.wait_height(last - 1, 60 + WINDOWS * rig.epoch_seconds * 4)
    made = calls(rig) - start
    rig.wait_height(last + rig.window + 1, 60)
    assert daemon.stop() == 0, daemon.text()[-3000:]
    measured = set(range(first, last, rig.epoch))
    assert measured <= rig.accepted_nonces(), (sorted(measured - rig.accepted_nonces()), daemon.text()[-3000:])
    rig.assert_no_duplicates()
    # The plain cadence makes ~5 polls per window here; sleeping to the next opening 1-3 (one that
    # finds the window open, the next one after the submission was confirmed, at most one early look).
    assert made["GetUnfulfilledWorkerNonces"] / WINDOWS <= 3.5, made
    # An early look (woken by the 0.75-window cap before the next window is due) asks for the open
    # nonces only: the height is read by the poll that finds the window open (2.0 per window when
    # every look read both).
    assert made["GetLatestBlock"] / WINDOWS <= 1.5, made
    # GetTx once a block, the first look a block after the send (scheduler.confirm_cadence,
    # ChainClient.confirm): ~1 per window here, twice a block from the send made ~2-2.5.
    assert made["GetTx"] / WINDOWS <= 1.6, made
