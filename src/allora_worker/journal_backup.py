"""Snapshots of the SQLite journal, taken with SQLite's online backup API, kept in rotation.

Safe while the daemon runs: the backup API copies a consistent snapshot page by page (a plain
`cp` of a WAL database can copy a torn state). Each snapshot is checked (`quick_check`) before it
is kept, is 0600, and only the newest `keep` remain. Restoring one is copying it back to the
journal's path while the daemon is stopped: it carries the same journal id, so the start-up
checks accept it, and a window it does not know as done is asked of the chain (simulation) before
any second fee is paid.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from allora_worker.journal_guard import JournalRefused, inspect

DEFAULT_KEEP = 7


def backup_dir(journal_path: Path) -> Path:
    return journal_path.parent / "backups"


def backup_journal(journal_path: Path, dest: Path | None = None, *, keep: int = DEFAULT_KEEP) -> Path:
    """Write a checked snapshot of the journal into `dest` (default `<state_dir>/backups`) and keep
    the newest `keep`. Raises `JournalRefused` for a journal that is missing or damaged."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    problem = inspect(journal_path)
    if problem is not None:
        raise JournalRefused(problem)
    if not journal_path.exists():
        raise FileNotFoundError(journal_path)
    dest = dest or backup_dir(journal_path)
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{now % 1:.6f}"[1:] + "Z"
    target = dest / f"{journal_path.stem}-{stamp}.sqlite"
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)) as src, \
                contextlib.closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
            rows = [str(r[0]) for r in dst.execute("PRAGMA quick_check").fetchall()]
            if rows != ["ok"]:
                raise JournalRefused(f"the snapshot of {journal_path} failed its check: {'; '.join(rows[:3])}")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _rotate(dest, journal_path.stem, keep)
    return target


def backups(journal_path: Path, dest: Path | None = None) -> list[Path]:
    """Snapshots of this journal, oldest first."""
    folder = dest or backup_dir(journal_path)
    return sorted(folder.glob(f"{journal_path.stem}-*.sqlite")) if folder.is_dir() else []


def _rotate(dest: Path, stem: str, keep: int) -> None:
    for old in sorted(dest.glob(f"{stem}-*.sqlite"))[:-keep]:
        old.unlink(missing_ok=True)
