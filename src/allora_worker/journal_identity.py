"""The SQLite journal's identity: who it belongs to, and which WAL file is its own.

One row in `journal_identity` names the journal (a random id), the chain it was written for, the
wallet, and its epoch (a new epoch is a new journal file for a reset chain). The row's tag
(`ajid:<32 hex>`) is rewritten by *every* write transaction (`TOUCH_SQL`), so every committed
transaction in a WAL file carries a copy of the page holding the tag of the journal it was written
for. That is how a WAL placed beside our journal from another daemon's journal is told apart from
ours before SQLite would replay it (SQLite's WAL header names no database; it would replay any WAL
whose page size matches).

The WAL file format read here: https://www.sqlite.org/fileformat2.html#walformat (32-byte header:
magic, version, page size, checkpoint seq, salt-1, salt-2, checksum; 24-byte frame headers: page
number, db size after commit (non-zero on a commit frame), salt-1, salt-2, checksum).

This module only knows bytes and one connection; `journal_guard` decides what to do.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

TAG_PREFIX = "ajid:"
_TAG_RE = re.compile(rb"ajid:([0-9a-f]{32})")

IDENTITY_DDL = """
CREATE TABLE IF NOT EXISTS journal_identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    tag         TEXT    NOT NULL,
    chain_id    TEXT    NOT NULL,
    wallet      TEXT    NOT NULL,
    epoch       INTEGER NOT NULL,
    created_at  REAL    NOT NULL,
    writes      INTEGER NOT NULL DEFAULT 0
)
"""

# Run inside every write transaction (a no-op on a journal not stamped yet).
TOUCH_SQL = "UPDATE journal_identity SET writes = writes + 1 WHERE id = 1"


@dataclass(frozen=True)
class Identity:
    journal_id: str
    chain_id: str
    wallet: str
    epoch: int
    created_at: float


def new_journal_id() -> str:
    return uuid.uuid4().hex


def read_identity(db: sqlite3.Connection) -> Identity | None:
    try:
        row = db.execute(
            "SELECT tag, chain_id, wallet, epoch, created_at FROM journal_identity WHERE id = 1"
        ).fetchone()
    except sqlite3.OperationalError:
        return None  # a journal from before identities: no table
    if row is None:
        return None
    tag, chain_id, wallet, epoch, created_at = tuple(row)
    return Identity(str(tag).removeprefix(TAG_PREFIX), chain_id, wallet, int(epoch), float(created_at))


class _Executes(Protocol):
    """A connection, or the journal's view of one inside a transaction."""

    def execute(self, sql: str, args: Any = ..., /) -> Any: ...


def stamp(db: _Executes, identity: Identity) -> None:
    db.execute(
        "INSERT INTO journal_identity (id, tag, chain_id, wallet, epoch, created_at, writes)"
        " VALUES (1, ?, ?, ?, ?, ?, 1)",
        (TAG_PREFIX + identity.journal_id, identity.chain_id, identity.wallet, identity.epoch,
         identity.created_at),
    )


def read_identity_from_file(path: Path) -> Identity | None:
    """The identity stored in the main database file itself, ignoring any WAL (read-only)."""
    try:
        db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        return read_identity(db)
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()


# -- the WAL file ---------------------------------------------------------------------------------

_WAL_MAGIC_LE = 0x377F0682
_WAL_MAGIC_BE = 0x377F0683


@dataclass(frozen=True)
class WalSummary:
    """The committed transactions of a WAL file, by the journal tags their pages carry."""

    transactions: int
    # One set of tags per committed transaction (empty: the transaction carried no tag).
    tags: tuple[frozenset[str], ...]


def _checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def read_wal(path: Path) -> WalSummary | None:
    """The valid committed transactions of a WAL file (as SQLite would replay them), or None when
    the file has no valid header (SQLite ignores such a WAL)."""
    data = path.read_bytes()
    if len(data) < 32:
        return None
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
    if magic not in (_WAL_MAGIC_LE, _WAL_MAGIC_BE) or page_size < 512 or page_size & (page_size - 1):
        return None
    big = magic == _WAL_MAGIC_BE
    s0, s1 = _checksum(data[:24], big, 0, 0)
    if (s0, s1) != (c1, c2):
        return None
    committed: list[frozenset[str]] = []
    pending: set[str] = set()
    offset = 32
    frame = 24 + page_size
    while offset + frame <= len(data):
        head = data[offset:offset + 24]
        _pgno, commit_size, fs1, fs2, fc1, fc2 = struct.unpack(">6I", head)
        if (fs1, fs2) != (salt1, salt2):
            break  # a frame left from before the last WAL reset: SQLite stops here too
        page = data[offset + 24:offset + frame]
        s0, s1 = _checksum(head[:8], big, s0, s1)
        s0, s1 = _checksum(page, big, s0, s1)
        if (s0, s1) != (fc1, fc2):
            break  # a torn write: nothing from here on is replayed
        pending.update(m.decode() for m in _TAG_RE.findall(page))
        if commit_size:
            committed.append(frozenset(pending))
            pending = set()
        offset += frame
    return WalSummary(len(committed), tuple(committed))
