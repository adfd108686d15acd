"""The durable ledger of every submission, and the one-instance-per-wallet lock.

One row per (topic, nonce) holds the current state of that window's submission; an append-only
`events` table keeps every transition (the audit trail of each attempt). Every write is its own
committed transaction on a WAL database with `synchronous=FULL`, so when a `mark_*` call returns
the state is on disk: the caller may then perform the next external effect (sign, broadcast,
confirm). A crash between two effects therefore always leaves the last completed step on disk.

States and their meaning:

    claimed    the worker owns this window; nothing has left the process yet
    signed     a tx is signed (hash and raw bytes stored); it may or may not have been broadcast
    broadcast  the node accepted the tx into its mempool (CheckTx code 0)
    confirmed  the chain holds our inference for this nonce (terminal)
    rejected   the last attempt failed; the nonce may be retried while its window is open
    missed     the window closed without our inference (terminal)
    not_admitted  included with code 0 but not stored (active set full of better EMA scores; terminal)

`signed` and `broadcast` are in flight: after a restart they must be reconciled with the chain
(`allora_worker.worker.reconcile`) before anything is re-signed, so a second tx for the same nonce is
never sent while the first may still land.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from allora_worker import journal_identity, journal_schema
from allora_worker.journal_identity import Identity
from allora_worker.secrets import redact

CLAIMED = "claimed"
SIGNED = "signed"
BROADCAST = "broadcast"
CONFIRMED = "confirmed"
REJECTED = "rejected"
MISSED = "missed"
# Included with code 0 but not stored: the topic's active set was full of better EMA scores
# (allora-chain PlanInferenceAdmission). Terminal: the chain took our one try for this window.
NOT_ADMITTED = "not_admitted"

STATES = (CLAIMED, SIGNED, BROADCAST, CONFIRMED, REJECTED, MISSED, NOT_ADMITTED)
TERMINAL = frozenset({CONFIRMED, MISSED, NOT_ADMITTED})
IN_FLIGHT = frozenset({SIGNED, BROADCAST})

# Allowed transitions. `signed -> signed` is a re-sign (new sequence/fee) after a CheckTx rejection
# that never entered the mempool; `broadcast -> signed` likewise when reconcile proved the earlier
# tx is gone for good. `rejected -> claimed` is a retry of a still-open window.
_ALLOWED: dict[str | None, frozenset[str]] = {
    None: frozenset({CLAIMED, MISSED}),
    CLAIMED: frozenset({CLAIMED, SIGNED, REJECTED, MISSED, CONFIRMED, NOT_ADMITTED}),
    SIGNED: frozenset({SIGNED, BROADCAST, CONFIRMED, REJECTED, MISSED, NOT_ADMITTED}),
    BROADCAST: frozenset({SIGNED, BROADCAST, CONFIRMED, REJECTED, MISSED, NOT_ADMITTED}),
    REJECTED: frozenset({CLAIMED, REJECTED, MISSED, CONFIRMED, NOT_ADMITTED}),
    CONFIRMED: frozenset(),
    MISSED: frozenset(),
    NOT_ADMITTED: frozenset(),
}

# Columns a transition leaves as they are when given None (the prediction and its provenance).
_KEPT_WHEN_NONE = frozenset({"value", "model_hash", "model_version", "data_window"})

# SQLite page cache per journal connection, KiB.
JOURNAL_CACHE_KIB = 256

# The WAL file is cut back to this size when SQLite restarts it (journal_size_limit). Every commit
# is checkpointed at once (see `_tx`), so the WAL holds about one transaction: it cannot grow to
# SQLite's 4 MB auto-checkpoint on a small disk, and a deleted WAL loses nothing checkpointed.
WAL_SIZE_LIMIT_BYTES = 256 * 1024

# `balance_spent` splits a balance at its last nine digits.
_LOW_DIGITS = 10**9

# Error text is capped so a node that returns a megabyte of log cannot bloat the ledger.
_MAX_ERROR_CHARS = 2000



class JournalError(RuntimeError):
    """A journal operation that would break an invariant (bad transition, in-flight reclaim)."""


class JournalUnavailable(JournalError):
    """A shared (PostgreSQL) journal cannot be reached or written right now: nothing is recorded,
    so nothing is signed or broadcast until it can be."""


class DiskLow(JournalUnavailable):
    """The state directory's filesystem has less free space than the reserve: the journal might
    not record the next steps of a submission, so nothing is signed until space is freed."""


def require_free_space(directory: Path, reserve_bytes: int) -> None:
    """Raise `DiskLow` when `directory`'s filesystem has less than `reserve_bytes` free.

    Checked before each poll, not on failure: a full disk makes SQLite fail mid-submission (a tx
    signed whose state cannot be written), while a reserve keeps room for the steps of every
    window already under way.
    """
    if reserve_bytes <= 0:
        return
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    if free < reserve_bytes:
        raise DiskLow(f"only {free // 1024} KiB free on the filesystem of {directory}, below the "
                      f"{reserve_bytes // 1024} KiB reserve (state_min_free_kib)")


class FencedOut(JournalError):
    """This daemon's lease is gone (expired or taken over): it must not record or sign anything."""


class _Db(Protocol):
    """What the state machine needs of a connection inside one transaction: `?` placeholders,
    rows readable by column name (a backend translates its own dialect)."""

    def execute(self, sql: str, args: Any = ..., /) -> Any: ...


@dataclass(frozen=True)
class Entry:
    """One (topic, nonce) row as stored."""

    topic_id: int
    nonce: int
    state: str
    value: str | None
    model_hash: str | None
    data_window: str | None
    txhash: str | None
    tx_bytes: bytes | None
    sequence: int | None
    chain_code: int | None
    codespace: str | None
    height: int | None
    attempts: int
    error: str | None
    created_at: float
    updated_at: float
    model_version: str | None = None  # a plugin's package version (schema 5); None for bundles and URLs

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT


@dataclass(frozen=True)
class Prediction:
    """A cycle's prediction and its provenance, as `record_prediction` and `mark_signed` store them."""

    value: str
    model_hash: str | None = None
    model_version: str | None = None
    data_window: str | None = None


@dataclass(frozen=True)
class Event:
    topic_id: int
    nonce: int
    from_state: str | None
    to_state: str
    txhash: str | None
    chain_code: int | None
    detail: str | None
    at: float
    fence_token: int | None = None


@dataclass(frozen=True)
class Performance:
    """How one accepted submission did, once its horizon passed (see worker/performance.py)."""

    topic_id: int
    nonce: int
    predicted: float
    realized: float
    network_value: float | None
    loss_method: str
    loss: float
    loss_zero: float
    loss_network: float | None
    target_time: float  # unix time the realized value is measured at
    computed_at: float


@dataclass(frozen=True)
class PerformanceTotals:
    """A topic's realized outcomes in sum (`Journal.performance_totals`)."""

    evaluated: int
    mean_loss: float
    mean_loss_zero: float
    mean_loss_network: float | None  # over the outcomes with a network inference; None: none had one
    beats_zero: int  # outcomes whose loss is below the zero baseline's


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    return redact(str(text))[:_MAX_ERROR_CHARS]


class Journal:
    """The ledger's state machine over one SQL store; this class is the embedded SQLite backend.

    Every mutating call is one committed transaction when it returns (on SQLite: WAL, fsync'd).
    `allora_worker.journal_pg.PostgresJournal` is the same state machine over PostgreSQL (shared
    by an active/standby pair); only the connection, the transaction and the schema dialect differ,
    so the transition table below is the one truth for both. Thread-safe.
    """

    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves so each step is one
        # transaction and nothing is left open between steps.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"journal {self.path}: cannot enable WAL (got {mode}); use a local disk")
        # FULL: the WAL is fsync'd at every commit, so a committed state survives power loss.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # The daemon touches a handful of rows per window, but SQLite's default page cache (2 MB)
        # keeps every page it writes: RSS grew with the file for the first ~1,500 windows
        # (bench/bench_journal_memory.py). A small cache keeps a months-long run flat.
        self._db.execute(f"PRAGMA cache_size=-{JOURNAL_CACHE_KIB}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}").fetchall()  # returns a row
        # Before the migrations: every write transaction (theirs too) touches the identity row.
        self._db.execute(journal_identity.IDENTITY_DDL)
        self._migrate()
        if created:
            fsync_dir(self.path.parent)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        """Where the journal lives, for people (never a password)."""
        return str(self.path)

    # -- backend hooks (SQLite here; PostgresJournal overrides them) ---------------------------

    @contextlib.contextmanager
    def _tx(self) -> Iterator[_Db]:
        """One write transaction; committed when the block ends, rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            changes = self._db.total_changes
            try:
                yield self._db
                written = self._db.total_changes != changes
                if written:
                    # Every transaction carries the journal's tag (journal_identity: how a foreign
                    # WAL is told from ours).
                    self._db.execute(journal_identity.TOUCH_SQL)
                # A read-only caller (`status`, a no-op migration) commits no frame.
                self._db.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (a statement still in progress, disk I/O): SQLite
                # then leaves the transaction open, and without this ROLLBACK every later BEGIN
                # would fail ("cannot start a transaction within a transaction") for the life of
                # the process. The caller sees this write fail; the next one starts clean.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if written:
                # Copied into the database file at once: the WAL stays about one transaction
                # long, and losing it loses nothing already checkpointed. The pragma returns a
                # row; it is read to the end so that no statement stays in progress on this
                # connection (an unread one, kept alive by any holder, makes the next COMMIT fail).
                try:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError as exc:
                    # The commit above is durable (synchronous=FULL): a checkpoint that cannot run
                    # now (a read still open on this connection) is left to the next commit's,
                    # which copies this transaction too. Raising would tell the caller a durable
                    # write failed. Anything else (disk full, I/O) is still raised.
                    if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                        raise

    # -- identity (journal_guard checks it at start) -------------------------------------------

    def identity(self) -> Identity | None:
        with self._lock:
            return journal_identity.read_identity(self._db)

    def stamp_identity(self, identity: Identity) -> None:
        with self._tx() as db:
            journal_identity.stamp(db, identity)

    def quick_check(self) -> list[str]:
        """SQLite's `PRAGMA quick_check`: [] when the file is sound, else its complaints."""
        with self._lock:
            rows = [str(r[0]) for r in self._db.execute("PRAGMA quick_check").fetchall()]
        return [] if rows == ["ok"] else rows

    def max_landed_sequence(self) -> int | None:
        """The highest account sequence of our txs included in a block: the chain's account sequence
        must be above it, unless the chain forgot them (a reset)."""
        rows = self._query("SELECT MAX(sequence) AS s FROM submissions WHERE state=? AND height IS NOT NULL"
                           " AND sequence IS NOT NULL", (CONFIRMED,))
        return int(rows[0]["s"]) if rows and rows[0]["s"] is not None else None

    def max_nonce(self, topic_id: int | None = None) -> int | None:
        """The highest nonce (a block height) this journal holds: the chain was at least that high."""
        if topic_id is None:
            rows = self._query("SELECT MAX(nonce) AS n FROM submissions")
        else:
            rows = self._query("SELECT MAX(nonce) AS n FROM submissions WHERE topic_id=?", (topic_id,))
        return int(rows[0]["n"]) if rows and rows[0]["n"] is not None else None

    def _query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        """A read outside any write transaction; rows are readable by column name."""
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def _ordered(self, sql: str, args: tuple[Any, ...], order: str, last: int | None) -> list[Any]:
        """`sql`'s rows in `order` (ascending columns); with `last`, only the last that many (read
        from the end of the index, so the rows before them are never fetched)."""
        if last is None:
            return self._query(f"{sql} ORDER BY {order}", args)
        descending = ", ".join(f"{column.strip()} DESC" for column in order.split(","))
        return self._query(f"{sql} ORDER BY {descending} LIMIT ?", (*args, last))[::-1]

    def _migrate(self) -> None:
        """Bring the schema to `journal_schema.LATEST`, one numbered migration per transaction."""
        with self._lock:
            self._db.execute(journal_schema.MIGRATIONS_TABLE)
        with self._tx() as db:
            _apply_migrations(db, self.dialect, self.describe())

    def schema_version(self) -> int:
        rows = self._query("SELECT MAX(version) AS v FROM schema_migrations")
        return int(rows[0]["v"] or 0)

    # -- reads -----------------------------------------------------------------------------

    def get(self, topic_id: int, nonce: int) -> Entry | None:
        rows = self._query("SELECT * FROM submissions WHERE topic_id=? AND nonce=?", (topic_id, nonce))
        return _entry(rows[0]) if rows else None

    def entries(self, topic_id: int | None = None, states: tuple[str, ...] | None = None) -> list[Entry]:
        sql = "SELECT * FROM submissions"
        where: list[str] = []
        args: list[Any] = []
        if topic_id is not None:
            where.append("topic_id=?")
            args.append(topic_id)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY topic_id, nonce"
        return [_entry(r) for r in self._query(sql, args)]

    def in_flight(self) -> list[Entry]:
        """Entries left `signed` or `broadcast`: reconcile them with the chain before re-signing."""
        return self.entries(states=tuple(sorted(IN_FLIGHT)))

    def events(self, topic_id: int, nonce: int) -> list[Event]:
        rows = self._query("SELECT * FROM events WHERE topic_id=? AND nonce=? ORDER BY id", (topic_id, nonce))
        return [
            Event(r["topic_id"], r["nonce"], r["from_state"], r["to_state"], r["txhash"],
                  r["chain_code"], r["detail"], r["at"], r["fence_token"])
            for r in rows
        ]

    # -- writes ----------------------------------------------------------------------------

    def claim(
        self,
        topic_id: int,
        nonce: int,
        *,
        value: str | None = None,
        model_hash: str | None = None,
        data_window: str | None = None,
    ) -> Entry | None:
        """Take ownership of (topic, nonce) before any work for it.

        Returns the claimed entry, or None when the nonce is already done (confirmed or missed).
        A `claimed` or `rejected` row is re-claimed (attempts + 1). An in-flight row raises
        `JournalError`: its tx may still land, so it must be reconciled first.
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM submissions WHERE topic_id=? AND nonce=?", (topic_id, nonce)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO submissions (topic_id, nonce, state, value, model_hash, data_window,"
                    " attempts, created_at, updated_at) VALUES (?,?,?,?,?,?,1,?,?)",
                    (topic_id, nonce, CLAIMED, value, model_hash, data_window, now, now),
                )
                self._event(db, topic_id, nonce, None, CLAIMED, None, None, None, now)
            else:
                state = row["state"]
                if state in TERMINAL:
                    return None
                if state in IN_FLIGHT:
                    raise JournalError(
                        f"topic {topic_id} nonce {nonce} is {state} (tx {row['txhash']}); "
                        "reconcile it with the chain before claiming again"
                    )
                db.execute(
                    "UPDATE submissions SET state=?, attempts=attempts+1, updated_at=?,"
                    " value=COALESCE(?, value), model_hash=COALESCE(?, model_hash),"
                    " data_window=COALESCE(?, data_window) WHERE topic_id=? AND nonce=?",
                    (CLAIMED, now, value, model_hash, data_window, topic_id, nonce),
                )
                self._event(db, topic_id, nonce, state, CLAIMED, None, None, "re-claim", now)
            row = db.execute(
                "SELECT * FROM submissions WHERE topic_id=? AND nonce=?", (topic_id, nonce)
            ).fetchone()
        return _entry(row)

    def record_prediction(
        self,
        topic_id: int,
        nonce: int,
        *,
        value: str,
        model_hash: str | None = None,
        data_window: str | None = None,
        model_version: str | None = None,
    ) -> Entry:
        """Store the prediction (canonical value string, model hash and version, data window) of a claimed entry."""
        with self._tx() as db:
            row = self._require(db, topic_id, nonce)
            if row["state"] != CLAIMED:
                raise JournalError(
                    f"topic {topic_id} nonce {nonce}: prediction recorded in state {row['state']}"
                )
            db.execute(
                "UPDATE submissions SET value=?, model_hash=COALESCE(?, model_hash),"
                " model_version=COALESCE(?, model_version),"
                " data_window=COALESCE(?, data_window), updated_at=? WHERE topic_id=? AND nonce=?",
                (value, model_hash, model_version, data_window, time.time(), topic_id, nonce),
            )
        return self._must_get(topic_id, nonce)

    def mark_signed(
        self, topic_id: int, nonce: int, *, txhash: str, tx_bytes: bytes, sequence: int,
        value: str | None = None, model_hash: str | None = None, model_version: str | None = None,
        data_window: str | None = None,
    ) -> Entry:
        """The tx is signed; its hash and bytes are stored so a restart can find or re-send it.

        The prediction's provenance (model hash and version, data window) may come along: the
        cycle stores it here, in the same transaction as the signed tx, instead of in one of its
        own (`record_prediction`), since nothing leaves the process between predicting and signing.
        None keeps what the row holds.
        """
        return self._transition(
            topic_id, nonce, SIGNED, txhash=txhash, tx_bytes=tx_bytes, sequence=sequence,
            value=value, model_hash=model_hash, model_version=model_version, data_window=data_window,
            chain_code=None, codespace=None, error=None,
        )

    def mark_broadcast(self, topic_id: int, nonce: int, *, txhash: str) -> Entry:
        """The node accepted the tx (CheckTx code 0)."""
        return self._transition(topic_id, nonce, BROADCAST, txhash=txhash, chain_code=0)

    def mark_confirmed(
        self, topic_id: int, nonce: int, *, txhash: str | None = None, height: int | None = None,
        chain_code: int | None = 0, detail: str | None = None,
    ) -> Entry:
        """The chain holds our inference for this nonce (included, or 'already submitted')."""
        fields: dict[str, Any] = {"height": height, "chain_code": chain_code}
        if txhash is not None:
            fields["txhash"] = txhash
        return self._transition(topic_id, nonce, CONFIRMED, detail=detail, **fields)

    def mark_not_admitted(
        self, topic_id: int, nonce: int, *, reason: str, txhash: str | None = None, height: int | None = None,
    ) -> Entry:
        """Included (code 0) but the chain did not store our inference: its active set kept others."""
        fields: dict[str, Any] = {"height": height, "chain_code": 0, "error": reason}
        if txhash is not None:
            fields["txhash"] = txhash
        return self._transition(topic_id, nonce, NOT_ADMITTED, detail=reason, **fields)

    def mark_rejected(
        self, topic_id: int, nonce: int, *, error: str, chain_code: int | None = None,
        codespace: str | None = None,
    ) -> Entry:
        """The attempt failed; the nonce stays retryable while its window is open."""
        return self._transition(
            topic_id, nonce, REJECTED, error=error, chain_code=chain_code, codespace=codespace,
            detail=error,
        )

    def mark_missed(
        self, topic_id: int, nonce: int, *, reason: str, chain_code: int | None = None
    ) -> Entry:
        """The window closed without our inference. Creates the row if the nonce was never claimed."""
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT state FROM submissions WHERE topic_id=? AND nonce=?", (topic_id, nonce)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO submissions (topic_id, nonce, state, attempts, error, chain_code,"
                    " created_at, updated_at) VALUES (?,?,?,0,?,?,?,?)",
                    (topic_id, nonce, MISSED, _clean(reason), chain_code, now, now),
                )
                self._event(db, topic_id, nonce, None, MISSED, None, chain_code, _clean(reason), now)
        if row is None:
            return self._must_get(topic_id, nonce)
        return self._transition(topic_id, nonce, MISSED, error=reason, chain_code=chain_code, detail=reason)

    def restore_landed(
        self, topic_id: int, nonce: int, *, txhash: str, height: int, sequence: int | None,
        value: str | None, detail: str,
    ) -> str | None:
        """Record what the chain shows: our payload tx for (topic, nonce) landed with code 0.

        For `journal recover`. A missing row is created `confirmed`; an unfinished one (claimed,
        signed, broadcast, rejected: e.g. left `signed` when the disk filled) is confirmed with
        the landed tx. Returns "added", "confirmed", or None when the row was already terminal.
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT state FROM submissions WHERE topic_id=? AND nonce=?", (topic_id, nonce)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO submissions (topic_id, nonce, state, value, txhash, sequence, chain_code,"
                    " height, attempts, created_at, updated_at) VALUES (?,?,?,?,?,?,0,?,1,?,?)",
                    (topic_id, nonce, CONFIRMED, value, txhash, sequence, height, now, now),
                )
                self._event(db, topic_id, nonce, None, CONFIRMED, txhash, 0, _clean(detail), now)
                return "added"
        if row["state"] in TERMINAL:
            return None
        self._transition(topic_id, nonce, CONFIRMED, detail=detail, txhash=txhash, height=height, chain_code=0)
        return "confirmed"

    # -- performance (read-mostly history beside the ledger; no state machine) ---------------

    def record_performance(self, perf: Performance) -> None:
        """Store (or replace) the realized outcome of one accepted submission."""
        with self._tx() as db:
            db.execute("DELETE FROM performance WHERE topic_id=? AND nonce=?", (perf.topic_id, perf.nonce))
            db.execute(
                "INSERT INTO performance (topic_id, nonce, predicted, realized, network_value, loss_method,"
                " loss, loss_zero, loss_network, target_time, computed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (perf.topic_id, perf.nonce, perf.predicted, perf.realized, perf.network_value,
                 perf.loss_method, perf.loss, perf.loss_zero, perf.loss_network, perf.target_time,
                 perf.computed_at),
            )

    def performances(self, topic_id: int | None = None, *, last: int | None = None) -> list[Performance]:
        """Realized outcomes in (topic, nonce) order; `last`: only the last that many."""
        sql = "SELECT * FROM performance"
        args: tuple[Any, ...] = ()
        if topic_id is not None:
            sql, args = sql + " WHERE topic_id=?", (topic_id,)
        rows = self._ordered(sql, args, "topic_id, nonce", last)
        return [Performance(**{k: r[k] for k in Performance.__dataclass_fields__}) for r in rows]

    def performance_totals(self) -> dict[int, PerformanceTotals]:
        """Per topic with realized outcomes: their count, mean losses and wins over the zero
        baseline, computed by the database (one row per topic however long the history)."""
        rows = self._query(
            "SELECT topic_id, COUNT(*) AS n, AVG(loss) AS ours, AVG(loss_zero) AS zero,"
            " AVG(loss_network) AS network, SUM(CASE WHEN loss < loss_zero THEN 1 ELSE 0 END) AS beats"
            " FROM performance GROUP BY topic_id")
        return {int(r["topic_id"]): PerformanceTotals(
            evaluated=int(r["n"]), mean_loss=float(r["ours"]), mean_loss_zero=float(r["zero"]),
            mean_loss_network=None if r["network"] is None else float(r["network"]), beats_zero=int(r["beats"]),
        ) for r in rows}

    def unrealized(self, topic_id: int) -> list[Entry]:
        """The topic's confirmed submissions with a value and a height but no realized outcome yet,
        oldest first: what the performance tracker still has to score (only these rows are read)."""
        rows = self._query(
            "SELECT * FROM submissions s WHERE s.topic_id=? AND s.state=? AND s.value IS NOT NULL"
            " AND s.height IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM performance p WHERE p.topic_id=s.topic_id AND p.nonce=s.nonce)"
            " ORDER BY s.nonce", (topic_id, CONFIRMED))
        return [_entry(r) for r in rows]

    def record_score(self, topic_id: int, *, score: float | None, lowest: float | None,
                     at: float | None = None) -> None:
        self.record_samples(scores={topic_id: (score, lowest)}, at=at)

    def record_samples(self, *, balance: int | None = None,
                       scores: dict[int, tuple[float | None, float | None]] | None = None,
                       at: float | None = None) -> None:
        """One heartbeat's samples in one transaction: the wallet's balance (None: not read this
        time) and, per topic, (our EMA score, the active set's lowest). Every commit costs the
        disk a few fsyncs; these rows are history beside the ledger, written together."""
        at = at if at is not None else time.time()
        with self._tx() as db:
            if balance is not None:
                db.execute("INSERT INTO balances (at, uallo) VALUES (?,?)", (at, str(balance)))
            for topic_id, (score, lowest) in (scores or {}).items():
                db.execute("INSERT INTO scores (topic_id, at, score, lowest) VALUES (?,?,?,?)",
                           (topic_id, at, score, lowest))

    def scores(self, topic_id: int, *, last: int | None = None) -> list[tuple[float, float | None, float | None]]:
        """(time, our EMA score, the active set's lowest), oldest first; `last`: only the last that many."""
        rows = self._ordered("SELECT at, score, lowest FROM scores WHERE topic_id=?", (topic_id,), "at", last)
        return [(r["at"], r["score"], r["lowest"]) for r in rows]

    def record_balance(self, uallo: int, at: float | None = None) -> None:
        self.record_samples(balance=uallo, at=at)

    def balances(self, *, first: int | None = None, last: int | None = None) -> list[tuple[float, int]]:
        """(time, balance in uallo), oldest first; `first` or `last`: only the first or last that many."""
        sql = "SELECT at, uallo FROM balances"
        if first is not None:
            rows = self._query(sql + " ORDER BY at LIMIT ?", (first,))
        else:
            rows = self._ordered(sql, (), "at", last)
        return [(r["at"], int(r["uallo"])) for r in rows]

    def balance_spent(self) -> int:
        """The sum of every decrease of the balance from one sample to the next, in uallo (top-ups
        are not spending), summed by the database so a heartbeat reads one row, not the history.

        A balance exceeds 64 bits (10 ALLO is 10**19 uallo), more than either database's integers
        hold, and a float would round it: each sample is split into its digits above the last nine
        and its last nine, both BIGINT, whose decreases are summed apart, then joined here exactly
        (for any balance below 9.2 * 10**27 uallo, nine times the total supply of ALLO).
        Written in the SQL that SQLite and PostgreSQL share (LAG over the time order, CAST, SUBSTR).
        """
        rows = self._query(
            "SELECT COALESCE(SUM(hi_before - hi), 0) AS hi, COALESCE(SUM(lo_before - lo), 0) AS lo FROM ("
            " SELECT hi, lo, LAG(hi) OVER (ORDER BY at) AS hi_before, LAG(lo) OVER (ORDER BY at) AS lo_before"
            " FROM (SELECT at,"
            " CASE WHEN LENGTH(uallo) > 9 THEN CAST(SUBSTR(uallo, 1, LENGTH(uallo) - 9) AS BIGINT) ELSE 0 END AS hi,"
            " CASE WHEN LENGTH(uallo) > 9 THEN CAST(SUBSTR(uallo, LENGTH(uallo) - 8) AS BIGINT)"
            " ELSE CAST(uallo AS BIGINT) END AS lo"
            " FROM balances) AS split) AS pairs"
            " WHERE hi_before > hi OR (hi_before = hi AND lo_before > lo)")
        return int(rows[0]["hi"]) * _LOW_DIGITS + int(rows[0]["lo"])

    # -- internals -------------------------------------------------------------------------

    def _transition(self, topic_id: int, nonce: int, to: str, *, detail: str | None = None,
                    **fields: Any) -> Entry:
        now = time.time()
        if "error" in fields:
            fields["error"] = _clean(fields["error"])
        with self._tx() as db:
            row = self._require(db, topic_id, nonce)
            frm = row["state"]
            if frm == to == CONFIRMED and fields.get("txhash") in (None, row["txhash"]):
                # Confirming twice (reconcile and the cycle both saw it land) changes nothing.
                return _entry(row)
            if to not in _ALLOWED[frm]:
                raise JournalError(f"topic {topic_id} nonce {nonce}: {frm} -> {to} is not allowed")
            sets = {k: v for k, v in fields.items() if not (k in _KEPT_WHEN_NONE and v is None)}
            sets["state"] = to
            sets["updated_at"] = now
            cols = ", ".join(f"{k}=?" for k in sets)
            db.execute(
                f"UPDATE submissions SET {cols} WHERE topic_id=? AND nonce=?",
                (*sets.values(), topic_id, nonce),
            )
            self._event(db, topic_id, nonce, frm, to, fields.get("txhash", row["txhash"]),
                        fields.get("chain_code"), _clean(detail), now)
        return self._must_get(topic_id, nonce)

    @staticmethod
    def _require(db: _Db, topic_id: int, nonce: int) -> Any:
        row = db.execute(
            "SELECT * FROM submissions WHERE topic_id=? AND nonce=?", (topic_id, nonce)
        ).fetchone()
        if row is None:
            raise JournalError(f"topic {topic_id} nonce {nonce} was never claimed")
        return row

    def _event(self, db: _Db, topic_id: int, nonce: int, frm: str | None, to: str,
               txhash: str | None, code: int | None, detail: str | None, at: float) -> None:
        db.execute(
            "INSERT INTO events (topic_id, nonce, from_state, to_state, txhash, chain_code, detail, at,"
            " fence_token) VALUES (?,?,?,?,?,?,?,?,?)",
            (topic_id, nonce, frm, to, txhash, code, detail, at, self._fence_token()),
        )

    def _fence_token(self) -> int | None:
        """The lease token this journal writes under (a shared journal); None on SQLite."""
        return None

    def _must_get(self, topic_id: int, nonce: int) -> Entry:
        entry = self.get(topic_id, nonce)
        assert entry is not None
        return entry


def _apply_migrations(db: _Db, dialect: str, where: str) -> None:
    current = db.execute("SELECT MAX(version) AS v FROM schema_migrations").fetchone()["v"] or 0
    if current > journal_schema.LATEST:
        raise JournalError(
            f"journal {where} has schema version {current}, newer than this allora-worker knows "
            f"({journal_schema.LATEST}): upgrade allora-worker before opening it"
        )
    for migration in journal_schema.MIGRATIONS:
        if migration.version <= current:
            continue
        for statement in migration.statements(dialect):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?,?,?)",
                    (migration.version, migration.description, time.time()))


def _entry(row: Any) -> Entry:
    return Entry(
        topic_id=row["topic_id"], nonce=row["nonce"], state=row["state"], value=row["value"],
        model_hash=row["model_hash"], data_window=row["data_window"], txhash=row["txhash"],
        tx_bytes=bytes(row["tx_bytes"]) if row["tx_bytes"] is not None else None,
        sequence=row["sequence"], chain_code=row["chain_code"], codespace=row["codespace"],
        height=row["height"], attempts=row["attempts"], error=row["error"],
        created_at=row["created_at"], updated_at=row["updated_at"], model_version=row["model_version"],
    )


def fsync_dir(path: Path) -> None:
    # A new file's directory entry is only durable once the directory itself is fsync'd.
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- single instance ---------------------------------------------------------------------------


class InstanceLockedError(RuntimeError):
    """Another process holds the wallet's lock; the message names it (pid, start time)."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        pid = holder.get("pid", "?")
        started = holder.get("started_at")
        when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)) if started else "unknown time"
        host = holder.get("host", "?")
        super().__init__(
            f"another worker for this wallet is running: pid {pid} on {host}, started {when} "
            f"(lock {path}). Stop it first; two workers on one wallet would race on the account "
            "sequence and could double-submit."
        )


class InstanceLock:
    """One running worker per wallet: `flock` on `<state_dir>/worker-<address>.lock`.

    The kernel drops the lock when the holder dies (even by SIGKILL), so there is never a stale
    lock to clean up by hand; the file's content (pid, start time) only names the holder.
    """

    def __init__(self, state_dir: str | os.PathLike[str], address: str) -> None:
        self.path = Path(state_dir) / f"worker-{address}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> InstanceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise InstanceLockedError(self.path, holder) from None
        info = {"pid": os.getpid(), "started_at": time.time(), "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Clear the content first so a reader never sees a released lock's pid as the holder.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def holder(self) -> dict[str, Any]:
        """The recorded holder of the lock file (may be stale if nobody holds the lock)."""
        try:
            fd = os.open(str(self.path), os.O_RDONLY)
        except FileNotFoundError:
            return {}
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        parsed = json.loads(data.decode() or "{}")
        return parsed if isinstance(parsed, dict) else {}
    except (OSError, ValueError):
        return {}

