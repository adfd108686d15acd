"""Running the real daemon against the devnet, for the tests and the soak benchmark.

- `quick_bundle(dir)`: a real bundle trained on the bundled Binance candles (no walk-forward, so
  it takes about a second), shared by a whole test session.
- `write_worker_config(...)`: the TOML a user would write for a devnet run with replayed candles.
- `DaemonProcess`: `allora-worker run` as a real subprocess (its own log file, signals, exit code).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from allora_worker.devnet import DevnetConfig, TopicConfig
from allora_worker.model.train import train_bundle

TRAIN_UNTIL = datetime(2020, 1, 1, tzinfo=UTC)
REPLAY_START = datetime(2020, 3, 1, tzinfo=UTC)
BINARY = Path(sys.executable).parent / "allora-worker"
ROOT = Path(__file__).resolve().parent.parent


def quick_bundle(out_dir: Path) -> Path:
    """A real default bundle (ridge, not walk-forward validated) for daemon tests."""
    if not (out_dir / "manifest.json").is_file():
        from allora_worker.market.bundled import load_bundled

        train_bundle(load_bundled("binance"), out_dir, until=TRAIN_UNTIL, validate=False,
                     data_source="bundled:binance")
    return out_dir


def devnet_config(address: str, topics: Iterable[TopicConfig], *, block_time: float = 0.1,
                  registered: bool = True, funds: int = 10**21, **extra: Any) -> DevnetConfig:
    topics = list(topics)
    return DevnetConfig(
        block_time=block_time,
        topics=topics,
        accounts={address: funds},
        registered_workers=[(t.id, address) for t in topics] if registered else [],
        **extra,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _topic_bundle(bundle: Path | dict[int, Path], topic_id: int, *, first: bool) -> Path:
    if isinstance(bundle, dict):
        return bundle[topic_id]
    if first or not bundle.is_dir():
        return bundle
    copy = bundle.parent / f"{bundle.name}-topic{topic_id}"
    if not copy.exists():
        shutil.copytree(bundle, copy)
    return copy


def write_worker_config(
    path: Path,
    *,
    grpc_url: str | list[str],
    state_dir: Path,
    bundle: Path | dict[int, Path],
    topics: Iterable[int] = (67,),
    epoch_seconds: float = 1.0,
    topic_extra: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    health_port: int = 0,
) -> Path:
    """A worker TOML for the devnet: replayed bundled candles, one epoch = one replayed hour.

    `bundle`: one bundle, or one per topic id. Two topics may not share a bundle (a config
    error), so with one bundle each topic after the first gets a copy of it beside it.
    """
    urls = grpc_url if isinstance(grpc_url, list) else [grpc_url]
    lines = [
        'network = "devnet"',
        f"grpc_endpoints = {_toml_value(urls)}",
        f"state_dir = {_toml_value(str(state_dir))}",
        f"heartbeat_seconds = {_toml_value((extra or {}).get('heartbeat_seconds', 2.0))}",
    ]
    for key, value in (extra or {}).items():
        if not isinstance(value, dict) and key != "heartbeat_seconds":
            lines.append(f"{key} = {_toml_value(value)}")
    tables: dict[str, dict[str, Any]] = {
        "health": {"port": health_port, "stall_seconds": 30.0},
        "chain": {"confirm_timeout_seconds": 10.0, "call_timeout_seconds": 3.0},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict):
            tables.setdefault(key, {}).update(value)
    topics = list(topics)
    for topic_id in topics:
        lines.append("")
        lines.append("[[topics]]")
        topic = {
            "id": topic_id,
            "bundle": str(_topic_bundle(bundle, topic_id, first=topic_id == topics[0])),
            "sources": ["replay"],
            "replay_start": REPLAY_START,
            "replay_speed": 3600.0 / epoch_seconds,
        }
        topic.update(topic_extra or {})
        for key, value in topic.items():
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables.items():
        lines.append("")
        lines.append(f"[{name}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


class DaemonProcess:
    """`allora-worker --config C run ...` in a subprocess; output goes to `output` (a file).

    `command` replaces the `allora-worker` executable (e.g. a test-only entry point that wraps it);
    the repository root is on its PYTHONPATH.
    """

    def __init__(self, config: Path, *args: str, mnemonic_file: Path, output: Path,
                 env: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        self.config = config
        self.output = output
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("ALLORA_WORKER_") and k not in ("MNEMONIC", "TOPIC_ID", "NOTIFY_SOCKET")}
        full_env.update({"MNEMONIC_FILE": str(mnemonic_file), "PYTHONUNBUFFERED": "1"})
        if command is not None:
            full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full_env.get("PYTHONPATH")) if p)
        full_env.update(env or {})
        self._handle = output.open("ab")
        self.process = subprocess.Popen(
            [*(command or [str(BINARY)]), "--config", str(config), "run", *args],
            stdout=self._handle, stderr=subprocess.STDOUT, env=full_env, cwd=str(config.parent),
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float = 30.0, count: int = 1) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = list(regex.finditer(self.text()))
            if len(matches) >= count:
                return matches[count - 1]
            if self.process.poll() is not None:
                matches = list(regex.finditer(self.text()))
                if len(matches) >= count:
                    return matches[count - 1]
                raise AssertionError(f"daemon exited ({self.process.returncode}) before {pattern!r}:\n{self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {pattern!r} x{count}:\n{self.text()[-4000:]}")

    def health_url(self, timeout: float = 30.0) -> str:
        return self.wait_for_line(r"health server listening on (http://[0-9.:]+)", timeout).group(1)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._handle.close()

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.wait(5)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
