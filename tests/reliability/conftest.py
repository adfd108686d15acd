"""A rig for the reliability tests: one devnet per test, the real `allora-worker run` subprocess.

Every test here runs the daemon as a separate OS process (so kill -9, SIGTERM, a full disk and a
read-only state directory hit the real thing) against a devnet in a thread of the test process.
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.devnet.state import AcceptedInference
from allora_worker.journal import Journal
from harness.daemon import DaemonProcess, devnet_config, quick_bundle, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

TOPIC = 67


@pytest.fixture(scope="session")
def shared_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quick_bundle(tmp_path_factory.mktemp("reliability-bundle") / "topic67")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    """A devnet with topic 67 on a fast clock, and the daemons started against it."""

    dn: DevnetThread
    root: Path
    key: Path
    bundle: Path
    block_time: float
    epoch: int
    window: int
    daemons: list[DaemonProcess] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def epoch_seconds(self) -> float:
        return self.epoch * self.block_time

    def config(self, name: str = "worker.toml", *, grpc_url: str | list[str] | None = None,
               topic_extra: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
               state_dir: Path | None = None, health_port: int = 0) -> Path:
        chain = {"confirm_timeout_seconds": max(2.0, self.window * self.block_time / 2),
                 "call_timeout_seconds": 1.0}
        merged = {"chain": chain, **(extra or {})}
        if "chain" in (extra or {}):
            merged["chain"] = {**chain, **extra["chain"]}  # type: ignore[index]
        return write_worker_config(
            self.root / name, grpc_url=grpc_url or self.dn.grpc_url, state_dir=state_dir or self.state_dir,
            bundle=self.bundle, epoch_seconds=self.epoch_seconds, topic_extra=topic_extra, extra=merged,
            health_port=health_port,
        )

    def start(self, config: Path, *args: str, env: dict[str, str] | None = None,
              output: Path | None = None, crash_at: str | None = None) -> DaemonProcess:
        """The daemon; with `crash_at`, through tests/crash_points.py, dying at that step."""
        out = output or self.root / f"daemon-{len(self.daemons)}.log"
        command = [sys.executable, "-m", "tests.crash_points", crash_at] if crash_at else None
        proc = DaemonProcess(config, *args, mnemonic_file=self.key, output=out, env=env, command=command)
        self.daemons.append(proc)
        return proc

    # -- what the chain saw ---------------------------------------------------------------------

    def accepted(self) -> list[AcceptedInference]:
        return [a for a in self.dn.accepted_inferences(TOPIC) if a.worker == TEST_ADDRESS]

    def accepted_nonces(self) -> set[int]:
        return {a.nonce for a in self.accepted()}

    def payload_txs(self) -> Counter[int]:
        """Delivered txs (success or failure) that carried our payload, per nonce."""
        counts: Counter[int] = Counter()
        with self.dn.state.lock:
            results = list(self.dn.state.txs.values())
        for result in results:
            for _url, msg in result.tx.msgs:
                bundle = getattr(msg, "worker_data_bundle", None)
                if bundle is not None and bundle.worker == TEST_ADDRESS and bundle.topic_id == TOPIC:
                    counts[bundle.nonce.block_height] += 1
        return counts

    def assert_no_duplicates(self) -> None:
        per_nonce = Counter(a.nonce for a in self.accepted())
        assert all(c == 1 for c in per_nonce.values()), f"duplicate accepted inferences: {per_nonce}"
        # Stronger: no second tx for a nonce ever reached a block (it would fail with 78 and pay fees).
        txs = self.payload_txs()
        assert all(c == 1 for c in txs.values()), f"more than one delivered payload tx per nonce: {txs}"

    def wait_accepted(self, nonce: int, timeout: float) -> AcceptedInference:
        return wait_until(lambda: next((a for a in self.accepted() if a.nonce == nonce), None), timeout,
                          f"an accepted inference for nonce {nonce}")

    def wait_accepted_count(self, count: int, timeout: float) -> None:
        wait_until(lambda: len(self.accepted()) >= count, timeout, f"{count} accepted inferences")

    def next_nonce(self, after: int | None = None) -> int:
        """The height at which the next window opens (strictly after `after`, default: now)."""
        h = self.dn.height if after is None else after
        offset = self.dn.state.topic(TOPIC).config.epoch_offset
        return h + (self.epoch - (h - offset) % self.epoch)

    def open_nonces(self) -> list[int]:
        return self.dn.state.unfulfilled_nonces(TOPIC)

    def wait_height(self, height: int, timeout: float | None = None) -> None:
        limit = timeout if timeout is not None else max(10.0, (height - self.dn.height) * self.block_time * 3 + 5)
        wait_until(lambda: self.dn.height >= height, limit, f"height {height}", interval=0.01)

    def journal_entries(self, state_dir: Path | None = None) -> list[Any]:
        with Journal((state_dir or self.state_dir) / "journal.sqlite") as j:
            return j.entries(topic_id=TOPIC)

    def journal_entries_if_any(self, state_dir: Path | None = None) -> list[Any]:
        path = (state_dir or self.state_dir) / "journal.sqlite"
        return self.journal_entries(state_dir) if path.exists() else []

    def windows_closed_between(self, lo: int, hi: int) -> list[int]:
        """Nonces of windows that opened at or after `lo` and closed by `hi`."""
        offset = self.dn.state.topic(TOPIC).config.epoch_offset
        first = lo + (-(lo - offset)) % self.epoch
        return [n for n in range(first, hi + 1, self.epoch) if n + self.window <= hi]


def healthz(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def make_rig(tmp_path: Path, mnemonic_file: Path, shared_bundle: Path) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(*, block_time: float = 0.1, epoch: int = 20, window: int = 16, epoch_offset: int = 0,
             copy_bundle: bool = False, **devnet_extra: Any) -> Rig:
        topic = TopicConfig(id=TOPIC, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=epoch,
                            worker_submission_window=window, ground_truth_lag=epoch, epoch_offset=epoch_offset)
        dn = DevnetThread(devnet_config(TEST_ADDRESS, [topic], block_time=block_time, **devnet_extra)).start()
        bundle = shared_bundle
        if copy_bundle:
            bundle = tmp_path / "bundle"
            shutil.copytree(shared_bundle, bundle)
        rig = Rig(dn, tmp_path, mnemonic_file, bundle, block_time, epoch, window)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        for proc in rig.daemons:
            if proc.process.poll() is None:
                proc.process.kill()
                proc.process.wait(10)
        rig.dn.stop()


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    return wait_until(predicate, timeout, what)


def sleep_blocks(rig: Rig, blocks: int) -> None:
    time.sleep(blocks * rig.block_time)
