"""A chain reset (same chain id, height back to 1) and a different chain behind the same endpoint.

The devnet is stopped and another one is started on the same port while the real daemon runs:
the daemon notices on its next poll, stops submitting and says so; a reset chain gets a new
journal epoch when `chain.on_reset = "new_journal"`, and the old chain's rows are never mixed
with the new chain's (its windows at the same heights are submitted, not skipped as done).
"""

from __future__ import annotations

import dataclasses

import pytest

from allora_worker.devnet import DevnetThread
from allora_worker.journal import CONFIRMED, Journal

from .conftest import TOPIC, Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def _replace_devnet(rig: Rig, **changes: object) -> None:
    port = rig.dn.devnet.port
    config = dataclasses.replace(rig.dn.config, port=port, **changes)
    rig.dn.stop()
    rig.dn = DevnetThread(config).start()


def test_reset_chain_gets_a_new_journal_epoch_and_its_same_heights_are_submitted(make_rig) -> None:
    rig: Rig = make_rig()
    daemon = rig.start(rig.config(extra={"chain": {"on_reset": "new_journal"}}))
    rig.wait_accepted_count(2, timeout=60)
    old = {e.nonce for e in rig.journal_entries()}
    top = max(old)

    _replace_devnet(rig)  # same chain id, heights from 1 again
    daemon.wait_for_line(r"the chain was reset .*journal epoch 2 begins for the new chain", timeout=60)
    # The new chain's window at the height the old journal holds as done is submitted, not skipped.
    rig.wait_accepted(top, timeout=60)
    assert daemon.stop() == 0, daemon.text()[-3000:]
    rig.assert_no_duplicates()
    archived = [p for p in rig.state_dir.glob("journal.sqlite.epoch1-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(archived) == 1, list(rig.state_dir.iterdir())
    with Journal(archived[0]) as journal:
        kept = journal.entries(topic_id=TOPIC)
    # The old chain's rows stay in the archive, and none of them is a tx of the new chain.
    assert set(old) <= {e.nonce for e in kept}
    assert not {e.txhash for e in kept} & {a.txhash for a in rig.accepted()}
    new_rows = {e.nonce: e for e in rig.journal_entries()}
    assert new_rows[top].state == CONFIRMED
    assert new_rows[top].txhash in {a.txhash for a in rig.accepted()}

    # Reset again while the daemon is down, and let the new chain grow past every height we know:
    # the account sequence still tells. With the default policy the daemon refuses, in words.
    newest = max(new_rows)
    _replace_devnet(rig)
    rig.wait_height(newest + 5)
    refused = rig.start(rig.config("stop.toml"))
    assert refused.wait(timeout=60) == 3, refused.text()[-3000:]
    assert "the chain was reset" in refused.text() and "account sequence" in refused.text()
    assert rig.dn.state.counters["txs_seen"] == 0


def test_another_chain_id_behind_the_endpoint_stops_the_daemon_before_any_tx(make_rig) -> None:
    rig: Rig = make_rig()
    daemon = rig.start(rig.config())
    rig.wait_accepted_count(1, timeout=60)
    _replace_devnet(rig, chain_id="allora-other-1")
    assert daemon.wait(timeout=60) == 3, daemon.text()[-3000:]
    assert "the node now serves chain 'allora-other-1'" in daemon.text()
    # At most the one re-send of a tx in flight at the switch (its signature fails there, and the
    # node's chain id is checked at once); the issue saw 22 txs sent to the other chain.
    assert rig.dn.state.counters["txs_seen"] <= 1, daemon.text()[-3000:]
