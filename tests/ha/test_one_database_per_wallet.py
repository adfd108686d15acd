"""One PostgreSQL journal database per wallet (and per chain).

The database records the wallet and chain it belongs to (`journal_owner`, stamped by the first
daemon that opens it): a daemon of another wallet, or for another chain, is refused in words with
exit 3 before it writes anything. The same wallet on two databases cannot be seen from either
database; the chain tells: the second active finds an inference of ours that its journal never
sent (at takeover, or as "already submitted" while running) and exits 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from allora_worker.exitcodes import EXIT_PREFLIGHT
from allora_worker.journal_guard import JournalRefused
from allora_worker.journal_pg import Lease, PostgresJournal
from harness.daemon import wait_until
from tests.conftest import TEST_ADDRESS
from tests.ha.conftest import Pair

# BIP39's "legal winner" test vector: a valid mnemonic of another wallet than TEST_ADDRESS's.
OTHER_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
OTHER_ADDRESS = "allo1other000000000000000000000000000000"  # only compared as text below
CHAIN = "allora-devnet-1"

pytestmark = [pytest.mark.integration]


def test_the_database_belongs_to_the_first_wallet_and_chain_that_open_it(pg_url: str) -> None:
    with PostgresJournal(pg_url) as first:
        first.claim_owner(TEST_ADDRESS, CHAIN)
        first.claim_owner(TEST_ADDRESS, CHAIN)  # the same owner again: fine (a restart, the standby)
    with PostgresJournal(pg_url) as other:
        with pytest.raises(JournalRefused, match=rf"belongs to wallet {TEST_ADDRESS}, not to this daemon's "
                                                 rf"wallet {OTHER_ADDRESS}: one PostgreSQL database per wallet"):
            other.claim_owner(OTHER_ADDRESS, CHAIN)
        with pytest.raises(JournalRefused, match=r"was written for chain 'allora-devnet-1', not 'allora-testnet-1'"):
            other.claim_owner(TEST_ADDRESS, "allora-testnet-1")


def test_a_database_from_before_the_stamp_is_refused_to_a_wallet_its_lease_does_not_name(pg_url: str) -> None:
    with PostgresJournal(pg_url) as journal:
        lease = Lease(journal.params, TEST_ADDRESS, 5.0)
        assert lease.try_acquire() is not None
        lease.close()
        with pytest.raises(JournalRefused, match=rf"belongs to wallet {TEST_ADDRESS}"):
            journal.claim_owner(OTHER_ADDRESS, CHAIN)
        journal.claim_owner(TEST_ADDRESS, CHAIN)  # its own wallet adopts it


def test_a_daemon_of_another_wallet_on_the_journal_database_exits_3(pair: Pair, tmp_path: Path) -> None:
    pair.start("a").wait_active()
    other_key = tmp_path / "other-mnemonic.txt"
    other_key.write_text(OTHER_MNEMONIC + "\n")
    other_key.chmod(0o600)
    other = pair.start("x", mnemonic_file=other_key)
    assert other.daemon.wait(60) == EXIT_PREFLIGHT, other.daemon.text()[-3000:]
    text = other.daemon.text()
    assert f"belongs to wallet {TEST_ADDRESS}, not to this daemon's wallet allo1" in text, text[-3000:]
    assert "LEASE ACQUIRED" not in text and "STANDBY" not in text


def test_the_same_wallet_on_two_databases_is_refused_by_the_chain(pair: Pair) -> None:
    a = pair.start("a")
    a.wait_active()
    pair.wait_accepted(1, 60)
    b = pair.start("b", dbname=pair.server.fresh_database())
    refused = wait_until(lambda: next((n for n in (a, b) if n.daemon.process.poll() is not None), None), 90,
                         "one of the two daemons to stop")
    assert refused.daemon.wait(5) == EXIT_PREFLIGHT, refused.daemon.text()[-3000:]
    assert "ANOTHER WORKER IS USING WALLET" in refused.daemon.text()
