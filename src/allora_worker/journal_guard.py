"""Open the SQLite journal only when it is whole and is ours; otherwise refuse, in words.

The journal is what stops a second payload tx for a window already paid for. A journal that is
silently lost (deleted, truncated to 0 bytes), damaged (torn, random bytes), mixed with another
journal's WAL, or written for another chain or wallet must stop the daemon at start (exit 3) with
what to do, never be started over or replayed quietly.

Beside the journal a small marker file (`<journal>.identity`, JSON, 0600) remembers the journal's
id. It is how a journal that disappeared is noticed: the marker outlives it. The database carries
the same id in `journal_identity` (see `allora_worker.journal_identity`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from allora_worker.journal import Journal, fsync_dir
from allora_worker.journal_identity import Identity, new_journal_id, read_identity_from_file, read_wal

_SQLITE_MAGIC = b"SQLite format 3\x00"
RECOVER_HINT = ("rebuild it from the chain with `allora-worker journal recover` (it sets the refused files "
                "aside and records this wallet's landed payload txs), or move it and its .identity file aside "
                "and start again: the new journal is checked against the chain's pending and landed txs of "
                "this wallet first (docs/OPERATIONS.md, 'A journal refused at start')")


class JournalRefused(RuntimeError):
    """The journal cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class Opened:
    journal: Journal
    identity: Identity
    # True when this start created the journal (no earlier journal, no marker): what the chain
    # shows of this wallet's recent txs is then all there is to know ("in doubt" until reconciled).
    fresh: bool


def marker_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".identity")


def read_marker(journal_path: Path) -> Identity | None:
    try:
        raw = json.loads(marker_path(journal_path).read_text(encoding="utf-8"))
        return Identity(str(raw["journal_id"]), str(raw["chain_id"]), str(raw["wallet"]), int(raw["epoch"]),
                        float(raw["created_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JournalRefused(
            f"the journal's identity file {marker_path(journal_path)} is unreadable ({exc}); it names the "
            "journal this state directory belongs to. Restore it from a backup, or delete it only if "
            f"{journal_path} is certainly this wallet's journal for this chain"
        ) from None


def write_marker(journal_path: Path, identity: Identity) -> None:
    target = marker_path(journal_path)
    fd, tmp = tempfile.mkstemp(prefix=".identity.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(identity), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def open_journal(path: Path, *, chain_id: str, wallet: str, epoch: int = 1) -> Opened:
    """Check the journal at `path` and open it, or raise `JournalRefused` (say it, exit 3)."""
    marker = read_marker(path)
    existed = path.exists()
    if not existed and marker is not None:
        raise JournalRefused(
            f"the journal {path} is gone, but this state directory had one (journal {marker.journal_id}, "
            f"{marker.chain_id}, created {_when(marker.created_at)}). Starting a new one could send a second "
            "payload tx for a window the lost journal already paid for. Put the journal back from a backup "
            f"(`allora-worker journal backup` writes them to {path.parent / 'backups'}), or {RECOVER_HINT}"
        )
    if existed:
        _check_file(path, marker)
    try:
        journal = Journal(path)
    except sqlite3.DatabaseError as exc:
        raise JournalRefused(_damaged(path, str(exc))) from None
    try:
        return _identify(journal, path, marker, existed, chain_id=chain_id, wallet=wallet, epoch=epoch)
    except BaseException:
        journal.close()
        raise


def _check_file(path: Path, marker: Identity | None) -> None:
    size = path.stat().st_size
    if size == 0:
        raise JournalRefused(
            f"the journal {path} is 0 bytes: it was truncated (its rows are gone). Starting over could send a "
            f"second payload tx for a window it already paid for. Restore it from a backup, or {RECOVER_HINT}"
        )
    with path.open("rb") as handle:
        head = handle.read(100)
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise JournalRefused(_damaged(path, "it is not a SQLite database (bad header)"))
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        _check_wal(path, wal, marker)


def _check_wal(path: Path, wal: Path, marker: Identity | None) -> None:
    summary = read_wal(wal)
    if summary is None or not summary.transactions:
        return  # SQLite replays nothing from it
    ours = marker.journal_id if marker is not None else None
    if ours is None:
        stored = read_identity_from_file(path)
        ours = stored.journal_id if stored is not None else None
    if ours is None:
        return  # a journal from before identities: nothing to compare with
    for tags in summary.tags:
        # Without the marker, a transaction with no tag may be our own schema creation from a start
        # that died before the marker was written: only another journal's tag is proof then.
        foreign = bool(tags - {ours}) or (not tags and marker is not None)
        if foreign:
            other = ", ".join(sorted(tags - {ours})) or "no journal id"
            raise JournalRefused(
                f"the WAL file {wal} does not belong to the journal {path} (it carries {other}; ours is "
                f"{ours}). SQLite would replay it over our rows. Move it out of the state directory "
                f"(mv {wal} {wal}.foreign) and start again; if it is really ours, {RECOVER_HINT}"
            )


def _identify(journal: Journal, path: Path, marker: Identity | None, existed: bool, *, chain_id: str,
              wallet: str, epoch: int) -> Opened:
    try:
        problems = journal.quick_check()
        stored = journal.identity()
    except sqlite3.DatabaseError as exc:
        raise JournalRefused(_damaged(path, str(exc))) from None
    if problems:
        raise JournalRefused(_damaged(path, "; ".join(problems[:3])))
    if stored is None:
        if marker is not None:
            raise JournalRefused(
                f"the journal {path} is not the journal of this state directory (it has no identity; the "
                f"state directory's is {marker.journal_id}, created {_when(marker.created_at)}): it was "
                f"replaced. Put the right one back, or {RECOVER_HINT}"
            )
        stored = Identity(new_journal_id(), chain_id, wallet, epoch, time.time())
        journal.stamp_identity(stored)
        write_marker(path, stored)
        # A journal that existed without an identity predates them; it keeps its rows.
        return Opened(journal, stored, fresh=not existed)
    if marker is not None and marker.journal_id != stored.journal_id:
        raise JournalRefused(
            f"the journal {path} is journal {stored.journal_id}, but this state directory's is "
            f"{marker.journal_id}: it was replaced by another daemon's journal. Put the right one back, "
            f"or {RECOVER_HINT}"
        )
    if stored.chain_id != chain_id:
        raise JournalRefused(
            f"the journal {path} belongs to chain {stored.chain_id!r}, but the worker is configured for "
            f"{chain_id!r}. Rows of two chains are never mixed: give this network its own state_dir"
        )
    if stored.wallet != wallet:
        raise JournalRefused(
            f"the journal {path} belongs to wallet {stored.wallet}, but the configured key is {wallet}. "
            "Give each wallet its own state_dir"
        )
    if marker is None:
        write_marker(path, stored)
    return Opened(journal, stored, fresh=False)


def inspect(path: Path) -> str | None:
    """What is wrong with the journal at `path` in words, or None. Reads only (for `status`)."""
    try:
        read_marker(path)
        if not path.exists():
            marker = read_marker(path)
            return None if marker is None else f"the journal {path} is gone (journal {marker.journal_id})"
        _check_file(path, read_marker(path))
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
    except JournalRefused as exc:
        return str(exc)
    except sqlite3.Error as exc:
        return _damaged(path, str(exc))
    return None if rows == ["ok"] else _damaged(path, "; ".join(rows[:3]))


def _damaged(path: Path, why: str) -> str:
    return (f"the journal {path} is damaged ({why}). Nothing will be submitted with it: restore it from a "
            f"backup, or {RECOVER_HINT}")


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def start_new_epoch(journal: Journal) -> tuple[Opened, Path]:
    """Close `journal`, archive its file beside it, and open a new journal (epoch + 1) in its place.

    For a reset chain (same chain id, new history): the old chain's rows stay readable in the
    archive and never mix with the new chain's.
    """
    identity = journal.identity()
    if identity is None:
        raise JournalRefused(f"the journal {journal.path} has no identity to start a new epoch from")
    path = journal.path
    journal.close()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archived = path.with_name(f"{path.name}.epoch{identity.epoch}-{stamp}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(archived.with_name(archived.name + suffix))
    path.rename(archived)
    marker_path(path).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return open_journal(path, chain_id=identity.chain_id, wallet=identity.wallet, epoch=identity.epoch + 1), archived
