"""The journal on PostgreSQL (psycopg 3), shared by an active/standby pair, and its fenced lease.

`PostgresJournal` is `Journal`'s state machine (same transition table, same rows) over a
PostgreSQL connection. `Lease` is the leader lease of one wallet: one row per wallet in `leases`
with an expiry (the server's clock, so the hosts' clocks do not matter) and a fencing token that
grows on every takeover.

Fencing: while a daemon is active its journal carries the token it holds (`journal.fence`), and
every write transaction first checks, in the same transaction, that this token still holds an
unexpired lease (`SELECT ... FOR SHARE`, so a takeover waits for the check's transaction to end).
A signature is recorded (`mark_signed`) before the tx is broadcast, so a paused or partitioned
old leader can neither record nor broadcast anything once the lease is gone: its next write
raises `FencedOut`.

The password comes from a file (`state_password_file`, 0600) or the environment
(`ALLORA_WORKER_STATE_PASSWORD`, or libpq's own `PGPASSWORD`/`PGPASSFILE`); it is registered as a
secret so no log line or error carries it, and `describe()` never shows it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allora_worker.journal import FencedOut, Journal, JournalError, JournalUnavailable, _apply_migrations
from allora_worker.secrets import redact, register_secret

try:  # psycopg is the [postgres] extra: SQLite-only installs never import it.
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

PASSWORD_ENV = "ALLORA_WORKER_STATE_PASSWORD"
# Every statement and every connection attempt is bounded: a journal that cannot answer within
# these times is unavailable (nothing is signed), never waited on for minutes.
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 5000
# Our own bound on every round trip, over the server's: a database behind a silent partition (or
# a proxy that stopped forwarding) never answers, and TCP may never tell (something on the way
# acknowledges our packets). Past it the connection is cut from our side.
CLIENT_DEADLINE_S = STATEMENT_TIMEOUT_MS / 1000 + 1.0
# Any lock on the migrations is taken by this key (one journal database, one schema at a time).
_MIGRATION_LOCK_KEY = 0x616C6F7261  # "alora"


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).split(":", 1)[0] in ("postgresql", "postgres")


def _need_psycopg() -> None:
    if psycopg is None:
        raise JournalError(
            "state_url is a PostgreSQL URL but psycopg is not installed: "
            "pip install 'allora-worker[postgres]'"
        )


def connection_kwargs(url: str, *, password_file: str | os.PathLike[str] | None = None,
                      application_name: str = "allora-worker") -> dict[str, Any]:
    """libpq parameters for `url` with the password from a file or the environment, registered
    as a secret. A password inside the URL works too but is discouraged (it is in the config)."""
    _need_psycopg()
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(url))
    except psycopg.ProgrammingError as exc:
        raise JournalError(f"state_url is not a valid PostgreSQL URL: {redact(str(exc))}") from None
    password: str | None = None
    if password_file is not None:
        path = Path(password_file).expanduser()
        try:
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise JournalError(
                    f"state_password_file {path} is readable by others (mode {mode:o}): chmod 600 it"
                )
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise JournalError(f"state_password_file {path}: {exc.strerror or exc}") from None
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    if password:
        params["password"] = password
    if params.get("password"):
        register_secret(str(params["password"]))
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", application_name)
    # Find a dead peer in seconds, not the kernel's two hours.
    params.setdefault("keepalives", 1)
    params.setdefault("keepalives_idle", 5)
    params.setdefault("keepalives_interval", 2)
    params.setdefault("keepalives_count", 2)
    params.setdefault("tcp_user_timeout", STATEMENT_TIMEOUT_MS)
    params["options"] = (str(params.get("options", "")) +
                         f" -c statement_timeout={STATEMENT_TIMEOUT_MS}"
                         f" -c lock_timeout={STATEMENT_TIMEOUT_MS}"
                         f" -c idle_in_transaction_session_timeout={4 * STATEMENT_TIMEOUT_MS}").strip()
    return params


def describe_url(params: dict[str, Any]) -> str:
    """postgresql://user@host:port/dbname, never the password."""
    user = params.get("user") or ""
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    db = params.get("dbname") or ""
    return f"postgresql://{user + '@' if user else ''}{host}:{port}/{db}"


class _Cut:
    fired = False


@contextlib.contextmanager
def _deadline(conn: Any, seconds: float) -> Iterator[_Cut]:
    """Cut `conn`'s socket if the block inside takes longer than `seconds`: the blocked call then
    fails at once (psycopg.OperationalError) instead of waiting for an answer that never comes.
    The yielded object says whether it was cut."""
    lock = threading.Lock()
    finished = False
    state = _Cut()

    def cut() -> None:
        with lock:
            if finished:
                return
            state.fired = True
            # shutdown() on a duplicate descriptor acts on the socket itself: libpq's wait wakes.
            with contextlib.suppress(Exception), socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, seconds), cut)
    timer.daemon = True
    timer.start()
    try:
        yield state
    finally:
        with lock:
            finished = True
        timer.cancel()


def _connect(params: dict[str, Any], timeout: float | None = None) -> Any:
    if timeout is not None:
        # libpq counts whole seconds and takes at least 2.
        params = {**params, "connect_timeout": max(2, min(int(params.get("connect_timeout") or CONNECT_TIMEOUT_S),
                                                           int(timeout + 0.999)))}
    try:
        return psycopg.connect(autocommit=True, row_factory=dict_row, **params)
    except psycopg.Error as exc:
        raise JournalUnavailable(
            f"cannot connect to the journal at {describe_url(params)}: {redact(str(exc)).strip()}"
        ) from None


class _Connection:
    """One connection, opened when first needed and again after PostgreSQL dropped it (a restart,
    a cut network); the journal and the lease each hold one. Callers hold their own lock."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self._conn: Any = None

    def stale(self) -> bool:
        return self._conn is not None and (self._conn.broken or self._conn.closed)

    def live(self, budget: float | None = None) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.drop()
            self._conn = _connect(self.params, budget)
        return self._conn

    def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class _PgDb:
    """The `?`-placeholder face the state machine speaks, over a psycopg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Any = ()) -> Any:
        return self._conn.execute(sql.replace("?", "%s"), tuple(args))


@dataclass(frozen=True)
class Fence:
    """The lease this daemon holds: every journal write checks it is still this one.

    `seconds_left` is the lease's own clock (`Lease.seconds_left`): a write is refused here once
    it reads 0, and never waits past it for the database, so a leader that cannot hear PostgreSQL
    stops on its own before the lease can pass to another host."""

    wallet: str
    holder: str
    token: int
    seconds_left: Callable[[], float] | None = field(default=None, compare=False)


class PostgresJournal(Journal):
    """`Journal` over PostgreSQL. Writes need a `fence` (the held lease) unless `fenced=False`
    (tools and tests that own the database alone). Reconnects on the next call after a failure."""

    dialect = "postgresql"

    def __init__(self, url: str, *, password_file: str | os.PathLike[str] | None = None,
                 fenced: bool = True) -> None:
        self._params = connection_kwargs(url, password_file=password_file)
        self.path = Path(describe_url(self._params))  # what the worker prints as "the journal"
        self._lock = threading.Lock()
        self._pg = _Connection(self._params)
        self.fenced = fenced
        self.fence: Fence | None = None
        self._migrate()

    # -- connection --------------------------------------------------------------------------

    def describe(self) -> str:
        return describe_url(self._params)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def _budget(self) -> float:
        """Seconds one round trip may take: our own deadline, and no longer than the lease this
        daemon holds has left on its clock (an answer after that is of no use to a leader)."""
        fence = self.fence
        if fence is None or fence.seconds_left is None:
            return CLIENT_DEADLINE_S
        return max(0.2, min(CLIENT_DEADLINE_S, fence.seconds_left()))

    def close(self) -> None:
        with self._lock:
            self._pg.drop()

    def __enter__(self) -> PostgresJournal:
        return self

    # -- backend hooks -------------------------------------------------------------------------

    def _fence_token(self) -> int | None:
        return self.fence.token if self.fence is not None else None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[_PgDb]:
        with self._lock:
            budget = CLIENT_DEADLINE_S
            if self.fenced:
                fence = self.fence
                if fence is None:
                    raise FencedOut("this daemon holds no lease: it is standby and must not write the journal")
                if fence.seconds_left is not None:
                    left = fence.seconds_left()
                    if left <= 0:
                        raise FencedOut(f"lease token {fence.token} ran out on this host's clock (not renewed "
                                        "in time): this daemon must not record or sign anything")
                    budget = min(budget, left)
            try:
                conn = self._pg.live(budget)
                with _deadline(conn, budget), conn.transaction():
                    if self.fenced:
                        assert self.fence is not None
                        _check_fence(conn, self.fence)
                    yield _PgDb(conn)
            except psycopg.OperationalError as exc:
                # Cut or failed before COMMIT answered: whether it committed is not known here, so
                # the caller acts on nothing of it (no broadcast); a recorded `signed` tx is
                # reconciled by whoever holds the lease next, with its same bytes.
                raise JournalUnavailable(
                    f"the journal at {self.describe()} failed mid-transaction (no answer within "
                    f"{budget:.1f}s, or the connection failed): {redact(str(exc)).strip()}"
                ) from None

    def _query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        with self._lock:
            # A read is safe to repeat: a connection that PostgreSQL dropped while it restarted
            # ("terminating connection due to administrator command") is only found broken on its
            # next use, so one failure on a connection that is now broken gets one fresh try.
            cut = _Cut()
            for attempt in (1, 2):
                try:
                    budget = self._budget()
                    conn = self._pg.live(budget)
                    with _deadline(conn, budget) as cut:
                        return list(conn.execute(sql.replace("?", "%s"), tuple(args)).fetchall())
                except psycopg.OperationalError as exc:
                    # Not after our own deadline: a database that did not answer gets no second wait.
                    if attempt == 1 and not cut.fired and self._pg.stale():
                        continue
                    raise JournalUnavailable(
                        f"the journal at {self.describe()} cannot be read: {redact(str(exc)).strip()}"
                    ) from None
            raise AssertionError("unreachable")

    def claim_owner(self, wallet: str, chain_id: str) -> None:
        """Stamp this database as `wallet`'s journal on `chain_id` if it is nobody's yet, and refuse
        (`JournalRefused`) one that belongs to another wallet or chain: one database per wallet.

        A database from before the stamp existed is adopted, unless its lease row names another
        wallet (then that wallet's daemons have been using it).
        """
        from allora_worker.journal_guard import JournalRefused

        with self._lock:
            try:
                conn = self._pg.live()
                with _deadline(conn, CLIENT_DEADLINE_S), conn.transaction():
                    conn.execute("LOCK TABLE journal_owner IN EXCLUSIVE MODE")
                    row = conn.execute("SELECT wallet, chain_id FROM journal_owner WHERE id = 1").fetchone()
                    if row is None:
                        other = conn.execute("SELECT wallet FROM leases WHERE wallet <> %s LIMIT 1",
                                             (wallet,)).fetchone()
                        if other is not None:
                            row = {"wallet": other["wallet"], "chain_id": "unknown"}
                        else:
                            conn.execute("INSERT INTO journal_owner (id, wallet, chain_id, created_at)"
                                         " VALUES (1, %s, %s, %s)", (wallet, chain_id, time.time()))
                            return
            except psycopg.OperationalError as exc:
                raise JournalUnavailable(
                    f"the journal at {self.describe()} cannot be read: {redact(str(exc)).strip()}"
                ) from None
        if row["wallet"] != wallet:
            raise JournalRefused(
                f"the journal database {self.describe()} belongs to wallet {row['wallet']}, not to this "
                f"daemon's wallet {wallet}: one PostgreSQL database per wallet (its leases, nonces and "
                "account sequence are that wallet's). Give this wallet its own database in state_url, "
                "or use that wallet's mnemonic here"
            )
        if row["chain_id"] != chain_id:
            raise JournalRefused(
                f"the journal database {self.describe()} was written for chain {row['chain_id']!r}, not "
                f"{chain_id!r}: its rows must not be mixed with another chain's. Give this chain its own "
                "database in state_url"
            )

    def _migrate(self) -> None:
        from allora_worker import journal_schema

        with self._lock:
            conn = self._pg.live()
            with conn.transaction():
                # Two daemons starting together: one migrates, the other waits and finds it done.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
                conn.execute(journal_schema.MIGRATIONS_TABLE)
                _apply_migrations(_PgDb(conn), self.dialect, self.describe())


def _check_fence(conn: Any, fence: Fence) -> None:
    row = conn.execute(
        "SELECT token FROM leases WHERE wallet=%s AND holder=%s AND token=%s AND expires_at > now()"
        " FOR SHARE",
        (fence.wallet, fence.holder, fence.token),
    ).fetchone()
    if row is None:
        raise FencedOut(
            f"lease token {fence.token} for {fence.wallet} is no longer held (expired or taken over "
            "by another host): this daemon must not record or sign anything"
        )


# -- the lease ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds (or last held) a wallet's lease, as the database says."""

    wallet: str
    holder: str
    token: int
    expires_in_seconds: float

    @property
    def active(self) -> bool:
        return self.expires_in_seconds > 0


def new_holder_id() -> str:
    # Unique per process: a restarted daemon is a new holder and must wait out (or be handed) the lease.
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One wallet's leader lease, on its own connection (renewals never queue behind journal work).

    `valid()` is the local view: the lease is ours until `ttl` after the moment we *sent* the last
    successful acquire/renew (monotonic clock), which is never later than the server's expiry; a
    paused process (SIGSTOP) wakes up past that moment and knows it without asking anyone.
    """

    def __init__(self, params: dict[str, Any], wallet: str, ttl_seconds: float,
                 holder: str | None = None) -> None:
        _need_psycopg()
        self.params = params
        self.wallet = wallet
        self.ttl = float(ttl_seconds)
        self.holder = holder or new_holder_id()
        self.token: int | None = None
        self._valid_until = 0.0
        self._pg = _Connection(params)
        self._lock = threading.Lock()

    @property
    def fence(self) -> Fence | None:
        if self.token is None:
            return None
        return Fence(self.wallet, self.holder, self.token, seconds_left=self.seconds_left)

    def valid(self) -> bool:
        return self.token is not None and time.monotonic() < self._valid_until

    def seconds_left(self) -> float:
        return self._valid_until - time.monotonic() if self.token is not None else 0.0

    def _run(self, sql: str, args: tuple[Any, ...], budget: float = CLIENT_DEADLINE_S) -> Any:
        with self._lock:
            try:
                conn = self._pg.live(budget)
                with _deadline(conn, budget):
                    return conn.execute(sql, args).fetchone()
            except psycopg.OperationalError as exc:
                self._pg.drop()
                raise JournalUnavailable(f"lease query failed: {redact(str(exc)).strip()}") from None

    def try_acquire(self) -> int | None:
        """Take the lease if nobody holds an unexpired one; returns the new fencing token."""
        sent = time.monotonic()
        row = self._run(
            "INSERT INTO leases (wallet, holder, token, expires_at, acquired_at, renewed_at)"
            " VALUES (%s, %s, 1, now() + make_interval(secs => %s), now(), now())"
            " ON CONFLICT (wallet) DO UPDATE SET holder = EXCLUDED.holder, token = leases.token + 1,"
            " expires_at = EXCLUDED.expires_at, acquired_at = now(), renewed_at = now()"
            " WHERE leases.expires_at <= now()"
            " RETURNING token",
            (self.wallet, self.holder, self.ttl),
        )
        if row is None:
            return None
        self.token = int(row["token"])
        self._valid_until = sent + self.ttl
        return self.token

    def renew(self) -> bool:
        """Extend our lease; False when it is gone (then `token` is cleared: we are standby)."""
        if self.token is None:
            return False
        sent = time.monotonic()
        row = self._run(
            "UPDATE leases SET expires_at = now() + make_interval(secs => %s), renewed_at = now()"
            " WHERE wallet=%s AND holder=%s AND token=%s AND expires_at > now() RETURNING token",
            (self.ttl, self.wallet, self.holder, self.token),
            # An answer after the lease ran out here is of no use: the keeper must decide by then.
            budget=min(CLIENT_DEADLINE_S, max(0.2, self.seconds_left())),
        )
        if row is None:
            self.token = None
            return False
        self._valid_until = sent + self.ttl
        return True

    def release(self) -> None:
        """Hand the lease over now (clean shutdown): the standby may take it at its next try."""
        token, self.token = self.token, None
        if token is None:
            return
        with contextlib.suppress(JournalError):
            self._run(
                "UPDATE leases SET expires_at = now() WHERE wallet=%s AND holder=%s AND token=%s"
                " RETURNING token",
                (self.wallet, self.holder, token),
            )

    def close(self) -> None:
        with self._lock:
            self._pg.drop()


def lease_holder(params: dict[str, Any], wallet: str) -> LeaseHolder | None:
    """The wallet's lease row as the database holds it (for `status`), or None if never taken."""
    _need_psycopg()
    conn = _connect(params)
    try:
        with _deadline(conn, CLIENT_DEADLINE_S):
            row = conn.execute(
                "SELECT wallet, holder, token, EXTRACT(EPOCH FROM (expires_at - now()))::float8 AS left_s"
                " FROM leases WHERE wallet=%s", (wallet,),
            ).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.OperationalError as exc:
        raise JournalUnavailable(f"lease query failed: {redact(str(exc)).strip()}") from None
    finally:
        conn.close()
    if row is None:
        return None
    return LeaseHolder(row["wallet"], row["holder"], int(row["token"]), float(row["left_s"]))
