"""The journal's schema as numbered migrations, one list for both backends.

Each migration is applied once, in order, inside one transaction together with its row in
`schema_migrations`, so a journal is always at exactly one known version. A journal written by a
newer allora-worker (a version this code does not know) is refused rather than guessed at.

To change the schema, append a `Migration` with the next number and its statements for both
dialects (SQLite and PostgreSQL); never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


# Version 1 is the schema every journal had before migrations were numbered (`IF NOT EXISTS`, so
# an existing unnumbered SQLite journal is adopted as version 1 unchanged).
_V1_SQLITE = (
    """CREATE TABLE IF NOT EXISTS submissions (
        topic_id     INTEGER NOT NULL,
        nonce        INTEGER NOT NULL,
        state        TEXT    NOT NULL,
        value        TEXT,
        model_hash   TEXT,
        data_window  TEXT,
        txhash       TEXT,
        tx_bytes     BLOB,
        sequence     INTEGER,
        chain_code   INTEGER,
        codespace    TEXT,
        height       INTEGER,
        attempts     INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        created_at   REAL    NOT NULL,
        updated_at   REAL    NOT NULL,
        PRIMARY KEY (topic_id, nonce)
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        topic_id    INTEGER NOT NULL,
        nonce       INTEGER NOT NULL,
        from_state  TEXT,
        to_state    TEXT    NOT NULL,
        txhash      TEXT,
        chain_code  INTEGER,
        detail      TEXT,
        at          REAL    NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS submissions_state ON submissions(state)",
    "CREATE INDEX IF NOT EXISTS events_key ON events(topic_id, nonce)",
)

_V1_POSTGRESQL = (
    """CREATE TABLE IF NOT EXISTS submissions (
        topic_id     BIGINT  NOT NULL,
        nonce        BIGINT  NOT NULL,
        state        TEXT    NOT NULL,
        value        TEXT,
        model_hash   TEXT,
        data_window  TEXT,
        txhash       TEXT,
        tx_bytes     BYTEA,
        sequence     BIGINT,
        chain_code   BIGINT,
        codespace    TEXT,
        height       BIGINT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        created_at   DOUBLE PRECISION NOT NULL,
        updated_at   DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (topic_id, nonce)
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        id          BIGSERIAL PRIMARY KEY,
        topic_id    BIGINT  NOT NULL,
        nonce       BIGINT  NOT NULL,
        from_state  TEXT,
        to_state    TEXT    NOT NULL,
        txhash      TEXT,
        chain_code  BIGINT,
        detail      TEXT,
        at          DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS submissions_state ON submissions(state)",
    "CREATE INDEX IF NOT EXISTS events_key ON events(topic_id, nonce)",
)

# Version 2: the leader lease of an active/standby pair (PostgreSQL only; SQLite has one host and
# uses the flock). One row per wallet; `token` is the fencing token, bumped on every takeover.
_V2_POSTGRESQL = (
    """CREATE TABLE IF NOT EXISTS leases (
        wallet       TEXT PRIMARY KEY,
        holder       TEXT NOT NULL,
        token        BIGINT NOT NULL,
        expires_at   TIMESTAMPTZ NOT NULL,
        acquired_at  TIMESTAMPTZ NOT NULL,
        renewed_at   TIMESTAMPTZ NOT NULL
    )""",
)

# Version 3: each event names the fencing token of the leader that wrote it (NULL on SQLite), so
# every signature in the audit trail is attributable to one lease holder.
_V3 = ("ALTER TABLE events ADD COLUMN fence_token BIGINT",)
# Version 4: performance tracking. `performance`: per accepted submission whose horizon passed,
# the realized value and the losses of ours, the zero baseline and the network inference;
# `scores`: the chain's EMA score of ours and the active set's lowest, over time; `balances`: the
# wallet balance over time (uallo as text: it exceeds 64 bits).
_V4 = {
    dialect: (
        f"""CREATE TABLE IF NOT EXISTS performance (
            topic_id      {big} NOT NULL,
            nonce         {big} NOT NULL,
            predicted     {real} NOT NULL,
            realized      {real} NOT NULL,
            network_value {real},
            loss_method   TEXT NOT NULL,
            loss          {real} NOT NULL,
            loss_zero     {real} NOT NULL,
            loss_network  {real},
            target_time   {real} NOT NULL,
            computed_at   {real} NOT NULL,
            PRIMARY KEY (topic_id, nonce)
        )""",
        f"""CREATE TABLE IF NOT EXISTS scores (
            topic_id  {big} NOT NULL,
            at        {real} NOT NULL,
            score     {real},
            lowest    {real},
            PRIMARY KEY (topic_id, at)
        )""",
        f"""CREATE TABLE IF NOT EXISTS balances (
            at     {real} PRIMARY KEY,
            uallo  TEXT NOT NULL
        )""",
    )
    for dialect, big, real in (("sqlite", "INTEGER", "REAL"), ("postgresql", "BIGINT", "DOUBLE PRECISION"))
}

# Version 5: the release of the code that made a prediction, beside its identity: a plugin's
# package version (model_hash then names the plugin, `plugin:<distribution>:<name>`). NULL for
# bundles (their hash already covers every file) and HTTP endpoints (which have no version).
_V5 = ("ALTER TABLE submissions ADD COLUMN model_version TEXT",)

# Version 6: the wallet and chain a PostgreSQL journal belongs to (one row, stamped by the first
# daemon that opens it). One database per wallet: a daemon of another wallet, or for another chain,
# is refused before it writes anything. (SQLite keeps the same facts in `journal_identity`.)
_V6_POSTGRESQL = (
    """CREATE TABLE IF NOT EXISTS journal_owner (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        wallet      TEXT NOT NULL,
        chain_id    TEXT NOT NULL,
        created_at  DOUBLE PRECISION NOT NULL
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "submissions and events", _V1_SQLITE, _V1_POSTGRESQL),
    Migration(2, "leader lease (PostgreSQL)", (), _V2_POSTGRESQL),
    Migration(3, "events.fence_token", _V3, _V3),
    Migration(4, "performance, scores and balances", _V4["sqlite"], _V4["postgresql"]),
    Migration(5, "submissions.model_version", _V5, _V5),
    Migration(6, "journal owner: wallet and chain (PostgreSQL)", (), _V6_POSTGRESQL),
)

LATEST = MIGRATIONS[-1].version

MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)
