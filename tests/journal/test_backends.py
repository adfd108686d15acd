"""Journal backends: versioned migrations, the PostgreSQL password never shown, and the fence."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from allora_worker import journal_schema
from allora_worker.journal import CLAIMED, SIGNED, Journal, JournalError
from allora_worker.secrets import redact

pytestmark = pytest.mark.integration


def test_an_unnumbered_sqlite_journal_is_adopted_with_its_rows(tmp_path: Path) -> None:
    # A journal written before migrations were numbered: the version-1 tables, no version table.
    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path)
    for statement in journal_schema.MIGRATIONS[0].sqlite:
        db.execute(statement)
    db.execute("INSERT INTO submissions (topic_id, nonce, state, attempts, created_at, updated_at)"
               " VALUES (67, 10, 'claimed', 1, 0, 0)")
    db.commit()
    db.close()
    with Journal(path) as j:
        assert j.schema_version() == journal_schema.LATEST
        assert j.get(67, 10).state == CLAIMED  # type: ignore[union-attr]


def test_a_journal_from_a_newer_worker_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (journal_schema.LATEST + 1,))
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="newer than this allora-worker"):
        Journal(path)


def test_postgres_migrations_are_numbered_and_a_newer_schema_refused(pg_url: str) -> None:
    from allora_worker.journal_pg import PostgresJournal

    j = PostgresJournal(pg_url, fenced=False)
    assert j.schema_version() == journal_schema.LATEST
    j.close()
    again = PostgresJournal(pg_url, fenced=False)  # re-opening applies nothing twice
    assert [r["version"] for r in again._query("SELECT version FROM schema_migrations ORDER BY version")] == [
        m.version for m in journal_schema.MIGRATIONS]
    with again._tx() as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (journal_schema.LATEST + 1,))
    again.close()
    with pytest.raises(JournalError, match="newer than this allora-worker"):
        PostgresJournal(pg_url, fenced=False)


def test_the_password_is_never_shown(postgres_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from allora_worker.journal_pg import PASSWORD_ENV, JournalUnavailable, PostgresJournal
    from harness.postgres import PLANTED_PASSWORD

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    secret_file = tmp_path / "pgpass"
    secret_file.write_text(PLANTED_PASSWORD + "\n")
    secret_file.chmod(0o644)
    url = postgres_server.url(postgres_server.fresh_database())
    with pytest.raises(JournalError, match="chmod 600") as loose:
        PostgresJournal(url, password_file=secret_file)
    assert PLANTED_PASSWORD not in str(loose.value)
    secret_file.chmod(0o600)
    j = PostgresJournal(url, password_file=secret_file, fenced=False)
    assert PLANTED_PASSWORD not in j.describe() and "127.0.0.1" in j.describe()
    assert redact(f"x {PLANTED_PASSWORD} y") == "x *** y"  # registered as a secret
    j.close()
    # A password in the URL (discouraged) is redacted from the error when the server is away.
    dead = f"postgresql://allora:{PLANTED_PASSWORD}@127.0.0.1:1/nowhere"
    with pytest.raises(JournalUnavailable) as down:
        PostgresJournal(dead)
    assert PLANTED_PASSWORD not in str(down.value) and "cannot connect" in str(down.value)


def test_a_fenced_out_leader_cannot_record_and_a_takeover_bumps_the_token(pg_url: str) -> None:
    from allora_worker.journal_pg import FencedOut, Lease, PostgresJournal

    old = PostgresJournal(pg_url)
    new = PostgresJournal(pg_url)
    wallet = "allo1fencetest"
    lease_a = Lease(old.params, wallet, ttl_seconds=0.5)
    lease_b = Lease(new.params, wallet, ttl_seconds=30)
    try:
        with pytest.raises(FencedOut, match="standby"):
            old.claim(67, 1)  # no lease held: a standby never writes
        token_a = lease_a.try_acquire()
        assert token_a is not None and lease_a.valid()
        assert lease_b.try_acquire() is None  # held and unexpired: B stays standby
        old.fence = lease_a.fence
        old.claim(67, 1)
        # A pauses past its lease; B takes over with a larger token and goes on.
        import time

        time.sleep(0.8)
        assert not lease_a.valid()
        token_b = lease_b.try_acquire()
        assert token_b is not None and token_b > token_a
        new.fence = lease_b.fence
        # A wakes up and tries to record a signature: refused, nothing written.
        with pytest.raises(FencedOut, match=f"token {token_a}"):
            old.mark_signed(67, 1, txhash="AA", tx_bytes=b"x", sequence=3)
        assert new.get(67, 1).state == CLAIMED  # type: ignore[union-attr]
        assert not lease_a.renew() and lease_a.token is None
        new.mark_signed(67, 1, txhash="BB", tx_bytes=b"y", sequence=3)
        assert new.get(67, 1).state == SIGNED  # type: ignore[union-attr]
        # The audit trail names the leader behind each step.
        assert [(e.to_state, e.fence_token) for e in new.events(67, 1)] == [(CLAIMED, token_a),
                                                                            (SIGNED, token_b)]
        # A clean release lets the next host in at once, with the next token.
        lease_b.release()
        assert lease_a.try_acquire() == token_b + 1
    finally:
        for closable in (lease_a, lease_b, old, new):
            closable.close()


def _performance_round_trip(j: Journal) -> None:
    from allora_worker.journal import Performance

    perf = Performance(topic_id=67, nonce=100, predicted=0.01, realized=-0.02, network_value=None,
                       loss_method="zptae", loss=0.03, loss_zero=0.02, loss_network=None,
                       target_time=1.0e9, computed_at=1.0e9)
    j.record_performance(perf)
    j.record_performance(perf)  # recomputing a row replaces it
    assert j.performances(67) == [perf]
    j.record_score(67, score=0.1, lowest=-0.2, at=5.0)
    assert j.scores(67) == [(5.0, 0.1, -0.2)]
    big = 10**21  # 1000 ALLO in uallo: beyond 64 bits, stored exactly
    j.record_balance(big, at=1.0)
    j.record_balance(big - 7, at=2.0)
    assert j.balances() == [(1.0, big), (2.0, big - 7)]
    # One heartbeat's samples together (one transaction): the balance and every topic's scores.
    j.record_samples(balance=big - 9, scores={67: (0.2, -0.1), 68: (None, None)}, at=3.0)
    j.record_samples(scores={67: (0.3, 0.0)}, at=4.0)  # the balance unread this time
    assert j.balances() == [(1.0, big), (2.0, big - 7), (3.0, big - 9)]
    assert j.scores(67) == [(3.0, 0.2, -0.1), (4.0, 0.3, 0.0), (5.0, 0.1, -0.2)]
    assert j.scores(68) == [(3.0, None, None)]
    # What the tracker still has to realize: confirmed, with a value and a height, no outcome yet.
    for nonce in (90, 100, 110, 120, 130):
        j.claim(67, nonce)
        if nonce != 120:
            j.record_prediction(67, nonce, value="0.01")
        if nonce != 130:
            j.mark_confirmed(67, nonce, txhash=f"T{nonce}", height=None if nonce == 90 else nonce + 1)
    j.claim(68, 140)
    j.record_prediction(68, 140, value="0.02")
    j.mark_confirmed(68, 140, txhash="T140", height=141)
    assert [e.nonce for e in j.unrealized(67)] == [110]  # 90: no height, 100: realized, 120: no value, 130: open
    assert [(e.nonce, e.txhash) for e in j.unrealized(68)] == [(140, "T140")]


def test_performance_tables_on_sqlite(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite") as j:
        _performance_round_trip(j)


def test_a_heartbeats_samples_are_one_commit_on_sqlite(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite") as j:
        commits: list[str] = []
        j._db.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
        j.record_samples(balance=10**20, scores={67: (0.2, -0.1), 68: (0.1, 0.0)}, at=3.0)
        assert len(commits) == 1, commits


def test_performance_tables_on_postgres(pg_url: str) -> None:
    from allora_worker.journal_pg import PostgresJournal

    j = PostgresJournal(pg_url, fenced=False)
    try:
        _performance_round_trip(j)
    finally:
        j.close()


def test_postgres_reads_go_on_after_the_server_restarted(postgres_server, pg_url: str) -> None:
    """A connection PostgreSQL dropped while it restarted is found broken only on its next use:
    a read then gets one fresh connection instead of failing (a standby taking over right after
    such a restart crashed on exactly this, 'terminating connection due to administrator command')."""
    from allora_worker.journal_pg import PostgresJournal

    journal = PostgresJournal(pg_url, fenced=False)
    try:
        journal.claim(67, 10)
        assert journal.get(67, 10) is not None  # the connection is open and used
        postgres_server.stop("fast")
        postgres_server.start()
        entry = journal.get(67, 10)
        assert entry is not None and entry.nonce == 10
    finally:
        journal.close()


def _journal_at_version_4(execute: Callable[[str], object], dialect: str) -> None:
    """A journal as the previous release left it: migrations 1-4 applied and numbered, a plugin row."""
    execute(journal_schema.MIGRATIONS_TABLE)
    for migration in journal_schema.MIGRATIONS[:4]:
        for statement in migration.statements(dialect):
            execute(statement)
        execute(f"INSERT INTO schema_migrations VALUES ({migration.version}, '{migration.description}', 0)")
    execute("INSERT INTO submissions (topic_id, nonce, state, value, model_hash, attempts, created_at,"
            " updated_at) VALUES (67, 10, 'confirmed', '0.1', 'plugin:demo-predictor==0.3.1:momentum', 1, 0, 0)")


def _model_version_round_trip(j: Journal) -> None:
    """Schema 5 keeps the old row as it was and stores a plugin's release beside its identity."""
    assert j.schema_version() == journal_schema.LATEST >= 5
    old = j.get(67, 10)
    assert old is not None and old.model_hash == "plugin:demo-predictor==0.3.1:momentum" and old.model_version is None
    j.claim(67, 11)
    j.record_prediction(67, 11, value="0.2", model_hash="plugin:demo-predictor:momentum", model_version="0.4.0")
    j.claim(67, 12)
    j.record_prediction(67, 12, value="0.3", model_hash="0123abcd")  # a bundle: no version
    got = {e.nonce: (e.model_hash, e.model_version) for e in j.entries(67)}
    assert got[11] == ("plugin:demo-predictor:momentum", "0.4.0")
    assert got[12] == ("0123abcd", None)


def test_a_version_4_sqlite_journal_gains_model_version(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path)
    _journal_at_version_4(db.execute, "sqlite")
    db.commit()
    db.close()
    with Journal(path) as j:
        _model_version_round_trip(j)


def test_a_version_4_postgres_journal_gains_model_version(pg_url: str) -> None:
    import psycopg

    from allora_worker.journal_pg import PostgresJournal, connection_kwargs

    with psycopg.connect(**connection_kwargs(pg_url), autocommit=True) as conn:
        _journal_at_version_4(conn.execute, "postgresql")
    j = PostgresJournal(pg_url, fenced=False)
    try:
        _model_version_round_trip(j)
    finally:
        j.close()
