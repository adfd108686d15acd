"""The state directory is private: 0700, and what the worker keeps in it 0600.

The journal holds signed txs, the log holds addresses and errors, the candles cache holds paid
data: none of it is for other users of the machine, whatever the umask (022 is common) made of
them. `allora-worker run` also sets the process umask to 077, so what it creates later is private
from the start; this fixes what an older version or another command left behind.
"""

from __future__ import annotations

import stat
from pathlib import Path

from allora_worker.logging_setup import get_logger

log = get_logger("worker.permissions")

PRIVATE_UMASK = 0o077


def tighten_state_dir(state_dir: Path) -> list[Path]:
    """chmod the state dir and its subdirectories 0700 and their files 0600 (group/other bits
    off, nothing followed through a symlink). Returns what was changed."""
    changed: list[Path] = []
    if not state_dir.is_dir():
        return changed
    stack = [state_dir]
    while stack:
        directory = stack.pop()
        _private(directory, 0o700, changed)
        for child in directory.iterdir():
            mode = child.lstat().st_mode
            if stat.S_ISDIR(mode):
                stack.append(child)
            elif stat.S_ISREG(mode):
                _private(child, 0o600, changed)
    if changed:
        log.info("state directory %s: made %d path(s) private (0700 directories, 0600 files)", state_dir,
                 len(changed))
    return changed


def _private(path: Path, mode: int, changed: list[Path]) -> None:
    current = stat.S_IMODE(path.lstat().st_mode)
    if current & 0o077:
        path.chmod(current & ~0o077 | (mode & 0o700))
        changed.append(path)
