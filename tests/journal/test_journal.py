"""Journal: state transitions, durability across a SIGKILL, redaction, and the instance lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from allora_worker import journal as jmod
from allora_worker.journal import (
    BROADCAST,
    CLAIMED,
    CONFIRMED,
    MISSED,
    NOT_ADMITTED,
    REJECTED,
    SIGNED,
    InstanceLock,
    InstanceLockedError,
    Journal,
    JournalError,
)
from allora_worker.secrets import register_secret


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The same state-machine tests on both backends; PostgreSQL is a real server, and its
    journal writes under a held lease (so every write here also passes the fence check)."""
    if request.param == "sqlite":
        j: Journal = Journal(tmp_path / "journal.sqlite")
    else:
        from allora_worker.journal_pg import PASSWORD_ENV, Lease, PostgresJournal
        from harness.postgres import PLANTED_PASSWORD

        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv(PASSWORD_ENV, PLANTED_PASSWORD)
        pg = PostgresJournal(server.url(server.fresh_database()))
        lease = Lease(pg.params, "allo1journaltest", ttl_seconds=120)
        assert lease.try_acquire() == 1
        pg.fence = lease.fence
        lease.close()
        j = pg
    yield j
    j.close()


def test_happy_path_records_every_step(journal: Journal) -> None:
    e = journal.claim(67, 1000, model_hash="abc", data_window="2025-01-01/2025-01-08")
    assert e is not None and e.state == CLAIMED and e.attempts == 1
    journal.record_prediction(67, 1000, value="0.0123")
    journal.mark_signed(67, 1000, txhash="AA" * 32, tx_bytes=b"\x01\x02", sequence=5)
    journal.mark_broadcast(67, 1000, txhash="AA" * 32)
    done = journal.mark_confirmed(67, 1000, txhash="AA" * 32, height=1003)
    assert done.state == CONFIRMED and done.height == 1003 and done.value == "0.0123"
    assert done.tx_bytes == b"\x01\x02" and done.sequence == 5 and done.model_hash == "abc"
    assert [ev.to_state for ev in journal.events(67, 1000)] == [CLAIMED, SIGNED, BROADCAST, CONFIRMED]
    # Terminal: a second claim of the same nonce is refused (at most one accepted submission).
    assert journal.claim(67, 1000) is None


def test_confirming_the_same_tx_twice_is_a_no_op_but_another_tx_is_refused(journal: Journal) -> None:
    # A reconcile and the cycle that broadcast the tx may both see it land.
    journal.claim(67, 7)
    journal.mark_signed(67, 7, txhash="BB" * 32, tx_bytes=b"\x01", sequence=1)
    first = journal.mark_confirmed(67, 7, txhash="BB" * 32, height=9)
    again = journal.mark_confirmed(67, 7, txhash="BB" * 32, height=9)
    assert again == first
    assert [ev.to_state for ev in journal.events(67, 7)] == [CLAIMED, SIGNED, CONFIRMED]
    with pytest.raises(JournalError):
        journal.mark_confirmed(67, 7, txhash="CC" * 32)


def test_illegal_transitions_are_refused(journal: Journal) -> None:
    with pytest.raises(JournalError):
        journal.mark_signed(1, 1, txhash="X", tx_bytes=b"", sequence=0)  # never claimed
    journal.claim(1, 1)
    with pytest.raises(JournalError):
        journal.mark_broadcast(1, 1, txhash="X")  # claimed -> broadcast skips signing
    journal.mark_missed(1, 1, reason="window closed")
    with pytest.raises(JournalError):
        journal.mark_signed(1, 1, txhash="X", tx_bytes=b"", sequence=0)
    assert journal.get(1, 1).state == MISSED  # type: ignore[union-attr]


def test_in_flight_entries_block_reclaim_until_reconciled(journal: Journal) -> None:
    journal.claim(2, 10)
    journal.mark_signed(2, 10, txhash="BB", tx_bytes=b"x", sequence=1)
    with pytest.raises(JournalError, match="reconcile"):
        journal.claim(2, 10)
    assert [e.nonce for e in journal.in_flight()] == [10]
    journal.mark_rejected(2, 10, error="tx not found after deadline", chain_code=None)
    again = journal.claim(2, 10)
    assert again is not None and again.state == CLAIMED and again.attempts == 2
    assert journal.in_flight() == []


def test_missed_without_claim_creates_a_terminal_row(journal: Journal) -> None:
    e = journal.mark_missed(3, 7, reason="window closed before we got to it", chain_code=75)
    assert e.state == MISSED and e.attempts == 0 and e.chain_code == 75
    assert journal.claim(3, 7) is None


def test_error_text_is_redacted(journal: Journal) -> None:
    secret = "zebra quantum lantern marble"
    register_secret(secret)
    journal.claim(4, 1)
    e = journal.mark_rejected(4, 1, error=f"boom: {secret}", chain_code=13, codespace="sdk")
    assert secret not in (e.error or "") and "***" in (e.error or "")
    assert all(secret not in (ev.detail or "") for ev in journal.events(4, 1))
    assert e.state == REJECTED


def test_database_is_wal_full_sync_and_a_small_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    j = Journal(path)
    assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # Bounded (negative = KiB): the default 2 MB cache made RSS grow with the file.
    assert j._db.execute("PRAGMA cache_size").fetchone()[0] == -jmod.JOURNAL_CACHE_KIB
    assert jmod.JOURNAL_CACHE_KIB <= 512
    j.close()


class _KeepsEveryCursor:
    """The journal's connection, with every cursor it hands out kept referenced, as any holder can
    keep one for a moment (a traceback, a debugger, `gc.get_objects()` in another thread): a
    statement whose rows were not read to the end then stays in progress."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.cursors: list[sqlite3.Cursor] = []

    def execute(self, *args: object) -> sqlite3.Cursor:
        cursor = self._db.execute(*args)  # type: ignore[arg-type]
        self.cursors.append(cursor)
        return cursor

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_a_write_leaves_no_statement_in_progress(tmp_path: Path) -> None:
    # Each write ran `PRAGMA wal_checkpoint` and never read its row: with that cursor alive, the
    # next COMMIT failed ("SQL statements in progress").
    j = Journal(tmp_path / "j.sqlite")
    j._db = _KeepsEveryCursor(j._db)  # type: ignore[assignment]
    j.record_balance(100, at=1.0)
    j.claim(67, 500)
    j.mark_signed(67, 500, txhash="AA" * 32, tx_bytes=b"raw", sequence=3)
    j.record_balance(80, at=2.0)
    assert j.balances() == [(1.0, 100), (2.0, 80)]
    assert j.get(67, 500).state == "signed"  # type: ignore[union-attr]
    j.close()


def test_a_failed_commit_is_rolled_back_and_the_journal_stays_writable(tmp_path: Path) -> None:
    # A COMMIT that fails leaves SQLite's transaction open; before the rollback every later write
    # failed with "cannot start a transaction within a transaction", for the life of the daemon.
    # The failure seen for real: an unread `PRAGMA wal_checkpoint` cursor kept alive by a holder.
    j = Journal(tmp_path / "j.sqlite")
    j.record_balance(100, at=1.0)
    unread = j._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    with pytest.raises(sqlite3.OperationalError, match="in progress"):
        j.record_balance(80, at=2.0)
    assert not j._db.in_transaction
    del unread
    j.record_balance(70, at=3.0)
    j.claim(67, 501)
    assert j.balances() == [(1.0, 100), (3.0, 70)]  # the failed write left nothing behind
    assert j.get(67, 501).state == "claimed"  # type: ignore[union-attr]
    j.close()


def test_a_write_with_a_read_open_on_the_connection_returns_once_durable(tmp_path: Path) -> None:
    # COMMIT succeeds beside an open read, but the checkpoint after it cannot run ("database table
    # is locked"): raising there told the caller that a durable write had failed.
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.record_balance(100, at=1.0)
    j.record_balance(90, at=2.0)
    reader = j._db.execute("SELECT version FROM schema_migrations ORDER BY version")
    reader.fetchone()  # stopped halfway
    j.record_balance(80, at=3.0)
    del reader
    j.record_balance(70, at=4.0)  # its checkpoint copies both
    j.close()
    with Journal(path) as again:
        assert again.balances() == [(1.0, 100), (2.0, 90), (3.0, 80), (4.0, 70)]


_CRASH_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from allora_worker.journal import Journal
    if sys.argv[1].startswith("postgresql://"):
        from allora_worker.journal_pg import Lease, PostgresJournal
        j = PostgresJournal(sys.argv[1])
        lease = Lease(j.params, "allo1crashtest", ttl_seconds=120)
        lease.try_acquire()
        j.fence = lease.fence
    else:
        j = Journal(sys.argv[1])
    j.claim(67, 500)
    j.mark_signed(67, 500, txhash="CC" * 32, tx_bytes=b"raw", sequence=9)
    # No close(): the process dies right after the committed write.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_committed_state_survives_sigkill(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "sqlite":
        where = str(tmp_path / "journal.sqlite")
    else:
        from allora_worker.journal_pg import PASSWORD_ENV
        from harness.postgres import PLANTED_PASSWORD

        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv(PASSWORD_ENV, PLANTED_PASSWORD)
        where = server.url(server.fresh_database())
    proc = subprocess.run([sys.executable, "-c", _CRASH_WRITER, where], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    if backend == "sqlite":
        j: Journal = Journal(where)
    else:
        from allora_worker.journal_pg import PostgresJournal

        j = PostgresJournal(where, fenced=False)
    with j:
        e = j.get(67, 500)
        assert e is not None and e.state == SIGNED and e.txhash == "CC" * 32 and e.tx_bytes == b"raw"
        assert [x.nonce for x in j.in_flight()] == [500]


_LOCK_TRY = textwrap.dedent(
    """
    import sys
    from allora_worker.journal import InstanceLock, InstanceLockedError
    try:
        InstanceLock(sys.argv[1], sys.argv[2]).acquire()
    except InstanceLockedError as err:
        print(err)
        sys.exit(3)
    print("acquired")
    """
)


def test_second_process_is_refused_and_told_who_holds_the_lock(tmp_path: Path) -> None:
    addr = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"
    with InstanceLock(tmp_path, addr) as lock:
        assert lock.held and lock.path.name == f"worker-{addr}.lock"
        proc = subprocess.run(
            [sys.executable, "-c", _LOCK_TRY, str(tmp_path), addr], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 3, proc.stderr
        assert f"pid {os.getpid()}" in proc.stdout and "started" in proc.stdout
    # Released: the next process gets it.
    proc = subprocess.run(
        [sys.executable, "-c", _LOCK_TRY, str(tmp_path), addr], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0 and "acquired" in proc.stdout


def test_lock_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    addr = "allo1testaddress"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from allora_worker.journal import InstanceLock;"
         "InstanceLock(sys.argv[1], sys.argv[2]).acquire(); print('ok', flush=True); time.sleep(60)",
         str(tmp_path), addr],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(InstanceLockedError, match=f"pid {holder.pid}"):
            InstanceLock(tmp_path, addr).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        lock = InstanceLock(tmp_path, addr).acquire()
        assert lock.holder()["pid"] == os.getpid()
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_not_admitted_is_terminal_and_keeps_the_tx(journal) -> None:  # type: ignore[no-untyped-def]
    journal.claim(67, 10)
    journal.mark_signed(67, 10, txhash="AB" * 32, tx_bytes=b"tx", sequence=3, value="0.1")
    journal.mark_broadcast(67, 10, txhash="AB" * 32)
    entry = journal.mark_not_admitted(67, 10, reason="our EMA score 0.1 vs the active set's lowest 0.8",
                                      txhash="AB" * 32, height=12)
    assert (entry.state, entry.terminal, entry.chain_code, entry.height) == (NOT_ADMITTED, True, 0, 12)
    assert "0.8" in (entry.error or "")
    assert journal.claim(67, 10) is None  # the window is done: no second tx
    with pytest.raises(JournalError):
        journal.mark_confirmed(67, 10, txhash="AB" * 32)


def test_each_state_is_reached_stored_and_decides_the_next_claim(journal: Journal) -> None:
    """Every state is reached by legal steps and read back from the database, and decides what a
    new claim does: done (None), refused until reconciled, or claimed again (one more attempt)."""
    tx = "DD" * 32

    def sign(n: int) -> None:
        journal.mark_signed(5, n, txhash=tx, tx_bytes=b"x", sequence=1)

    steps = {
        CLAIMED: [],
        SIGNED: [sign],
        BROADCAST: [sign, lambda n: journal.mark_broadcast(5, n, txhash=tx)],
        CONFIRMED: [sign, lambda n: journal.mark_confirmed(5, n, txhash=tx, height=3)],
        REJECTED: [lambda n: journal.mark_rejected(5, n, error="sdk/4 unauthorized", chain_code=4)],
        MISSED: [lambda n: journal.mark_missed(5, n, reason="window closed")],
        NOT_ADMITTED: [sign, lambda n: journal.mark_not_admitted(5, n, reason="EMA below the set", txhash=tx,
                                                                 height=3)],
    }
    expected = {CLAIMED: "again", SIGNED: "refused", BROADCAST: "refused", CONFIRMED: "done",
                REJECTED: "again", MISSED: "done", NOT_ADMITTED: "done"}
    assert set(jmod.STATES) == set(steps) == set(expected)
    seen = {}
    for nonce, state in enumerate(jmod.STATES, start=1):
        journal.claim(5, nonce)
        for step in steps[state]:
            step(nonce)
        assert journal.get(5, nonce).state == state  # type: ignore[union-attr]
        try:
            again = journal.claim(5, nonce)
        except JournalError as exc:
            assert "reconcile" in str(exc)
            seen[state] = "refused"
        else:
            seen[state] = "done" if again is None else "again"
            assert again is None or (again.state == CLAIMED and again.attempts == 2)
    assert seen == expected
    # The module's groups (Entry.terminal, Entry.in_flight) agree with what claim did.
    assert {s for s, what in expected.items() if what == "done"} == jmod.TERMINAL
    assert {s for s, what in expected.items() if what == "refused"} == jmod.IN_FLIGHT
