"""The heartbeat: an hourly (configurable) log line and a small JSON file an operator or a probe reads.

The file is replaced atomically, so a reader never sees half of it, and it carries the counters
`allora-worker status` shows next to the journal.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from allora_worker.secrets import redact_tree

HEARTBEAT_FILE = "heartbeat.json"


@dataclass
class RunCounters:
    started_at: float = field(default_factory=time.time)  # wall time, for people
    # Uptime is measured on the monotonic clock: an NTP step or a suspend must not bend it.
    started_monotonic: float = field(default_factory=time.monotonic, repr=False)
    cycles: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    last_tx_hashes: list[str] = field(default_factory=list)
    last_error: str | None = None
    emissions_version: int | None = None  # what the node serves (probed; changes on an upgrade)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def tx(self, txhash: str) -> None:
        self.last_tx_hashes = [*self.last_tx_hashes[-9:], txhash]

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic


def _content(counters: RunCounters, extra: dict[str, Any] | None) -> dict[str, Any]:
    """What the file says besides the clock (`time`, `uptime_seconds`)."""
    return {
        "pid": os.getpid(),
        **{k: v for k, v in asdict(counters).items() if k != "started_monotonic"},
        **(extra or {}),
    }


def write_heartbeat(state_dir: Path, counters: RunCounters, extra: dict[str, Any] | None = None) -> Path:
    return _write(state_dir, counters, _content(counters, extra))


class HeartbeatFile:
    """Rewrites heartbeat.json when what it says changed, and at least every `refresh_s` seconds.

    Each rewrite costs a file creation and a rename (the kernel starts writing the new file's
    blocks at the rename: ~0.2 ms of CPU on ext4), and a loop iteration that changed nothing
    only moves the clock fields. Readers need the file fresh enough to tell a live daemon from a
    stuck one (`status` calls it stuck after `health.stall_seconds`), so `refresh_s` stays well
    below that; a change (a cycle, an outcome, the health verdict) is written at the next
    iteration, but not more often than `min_interval_s`.
    """

    def __init__(self, state_dir: Path, *, refresh_s: float, min_interval_s: float) -> None:
        self.state_dir = state_dir
        self.refresh_s = refresh_s
        self.min_interval_s = min_interval_s
        self._said: dict[str, Any] | None = None
        self._at = -math.inf

    def beat(self, counters: RunCounters, extra: dict[str, Any] | None = None, *, force: bool = False,
             now: float | None = None) -> bool:
        """Write if due; True when the file was written. Raises OSError as `write_heartbeat` does."""
        now = time.monotonic() if now is None else now
        age = now - self._at
        content = _content(counters, extra)
        if not force and (age < self.min_interval_s or (content == self._said and age < self.refresh_s)):
            return False
        # Marked before the write: a failing disk is retried at the pace of a change, not per poll.
        self._at = now
        _write(self.state_dir, counters, content)
        self._said = content
        return True


def _write(state_dir: Path, counters: RunCounters, content: dict[str, Any]) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    payload = {"time": time.time(), "uptime_seconds": round(counters.uptime_seconds, 1), **content}
    # last_error carries what a provider or node said, which may echo a request header (an API key).
    payload = redact_tree(payload)
    target = state_dir / HEARTBEAT_FILE
    fd, tmp = tempfile.mkstemp(prefix=".heartbeat.", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_heartbeat(state_dir: Path) -> dict[str, Any] | None:
    try:
        beat: dict[str, Any] = json.loads((state_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
        return beat
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class DaemonState:
    """What `status` says about the daemon of a state directory, in words."""

    state: str  # running | stopped | crashed | never run
    pid: int | None
    words: str


def daemon_state(state_dir: Path, *, now: float | None = None, stale_after_s: float = 600.0) -> DaemonState:
    """Running / stopped / crashed, from the wallet lock's holder and the heartbeat file.

    The lock file names its holder (pid) while a daemon holds it and is emptied on a clean exit,
    so: a named pid that is alive and is ours is running; a named pid that is gone died without
    its shutdown (SIGKILL, out of memory, power): crashed; an empty lock file is a clean stop.
    Nothing here takes the lock, so `status` can never get in a starting daemon's way.
    """
    now = time.time() if now is None else now
    beat = read_heartbeat(state_dir)
    age = f"{now - float(beat['time']):.0f}s ago" if beat and "time" in beat else "never"
    for lock in sorted(state_dir.glob("worker-*.lock")):
        holder = _lock_holder(lock)
        pid = holder.get("pid")
        if not isinstance(pid, int):
            continue
        host = holder.get("host")
        if host and host != socket.gethostname():
            return DaemonState("running", pid, f"held by pid {pid} on {host} (cannot check it from here); "
                                               f"last heartbeat {age}")
        started = holder.get("started_at")
        proc = _process_state(pid, float(started) if isinstance(started, (int, float)) else None)
        if proc is None:
            return DaemonState("crashed", pid, f"crashed: pid {pid} is gone without its shutdown "
                                               f"(killed, out of memory, power loss); last heartbeat {age}")
        if proc == "T":
            return DaemonState("running", pid, f"running as pid {pid} but PAUSED (stopped by a signal; "
                                               f"`kill -CONT {pid}` resumes it); last heartbeat {age}")
        if beat and beat.get("pid") == pid and now - float(beat.get("time", 0)) > stale_after_s:
            return DaemonState("running", pid, f"running as pid {pid} but its heartbeat is {age}: "
                                               "the loop looks stuck")
        return DaemonState("running", pid, f"running as pid {pid}; last heartbeat {age}")
    if beat is None:
        return DaemonState("never run", None, "never run with this state directory (no heartbeat, no lock)")
    pid = beat.get("pid") if isinstance(beat.get("pid"), int) else None
    if beat.get("stopped"):
        reason = beat.get("reason") or "stopped"
        return DaemonState("stopped", pid, f"stopped ({reason}); last heartbeat {age}")
    if pid is not None and _process_state(pid) is not None:
        # A heartbeat but no lock holder: a daemon from before the lock named its holder, or
        # one that is starting right now.
        return DaemonState("running", pid, f"running as pid {pid}; last heartbeat {age}")
    return DaemonState("crashed", pid, f"crashed: the last run (pid {pid}) ended without its shutdown; "
                                        f"last heartbeat {age}")


def _lock_holder(path: Path) -> dict[str, Any]:
    try:
        parsed = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _process_state(pid: int, started_at: float | None = None) -> str | None:
    """The process's state letter (R, S, T, ...) if `pid` lives and (when `started_at`, the wall time
    it took the lock, is known) started no later than that: a recycled pid started after it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    if started_at is not None:
        try:
            boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                        if line.startswith("btime "))
            began = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        except (OSError, StopIteration, ValueError, IndexError):
            began = None
        # btime has one-second resolution: allow a little slack.
        if began is not None and began > started_at + 2.0:
            return None
    return fields[0]
