"""The heartbeat: an hourly (configurable) log line and a small JSON file an operator or a probe reads.

The file is replaced atomically, so a reader never sees half of it, and it carries the counters
`allora-worker status` shows next to the journal.
"""

from __future__ import annotations

import json
import os
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


def write_heartbeat(state_dir: Path, counters: RunCounters, extra: dict[str, Any] | None = None) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "time": time.time(),
        "pid": os.getpid(),
        "uptime_seconds": round(counters.uptime_seconds, 1),
        **{k: v for k, v in asdict(counters).items() if k != "started_monotonic"},
        **(extra or {}),
    }
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
