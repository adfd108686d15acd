"""What the worker says about itself matches what happened: /healthz through a chain outage,
`status` of a running / paused / killed / stopped daemon, windows that passed unseen, a busy port.

Each test runs the real daemon (`allora-worker run`) against the devnet in this process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal import MISSED, Journal
from allora_worker.worker.heartbeat import read_heartbeat
from harness.daemon import BINARY, DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = pytest.mark.integration

BLOCK = 0.2
EPOCH = 20  # 4 s epochs
WINDOW = 14  # 2.8 s windows


def _topic() -> TopicConfig:
    return TopicConfig(id=67, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=EPOCH,
                       worker_submission_window=WINDOW, ground_truth_lag=EPOCH)


def _healthz(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def _accepted(dn: DevnetThread) -> set[int]:
    return {i.nonce for i in dn.accepted_inferences(67) if i.worker == TEST_ADDRESS}


def _status(config: Path, mnemonic_file: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env["MNEMONIC_FILE"] = str(mnemonic_file)
    out = subprocess.run([str(BINARY), "--config", str(config), "status", "--json"], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _missed_rows(state_dir: Path) -> dict[int, str]:
    with Journal(state_dir / "journal.sqlite") as journal:
        return {e.nonce: e.error or "" for e in journal.entries(topic_id=67, states=(MISSED,))}


def test_chain_outage_of_four_windows_turns_healthz_503_then_200_with_few_lines(
        tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK,
                                     extra={"chain": {"call_timeout_seconds": 1.0}})
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            url = daemon.health_url()
            wait_until(lambda: _accepted(dn), 40, "a first accepted window")
            assert _healthz(url)[0] == 200
            # The outage: every call fails for four whole epochs, starting mid-way between windows.
            h = dn.height
            start = h + (EPOCH - h % EPOCH) + WINDOW + 1  # just after a window closed
            end = start + 4 * EPOCH
            dn.faults.unavailable_blocks = [(start, end)]
            wait_until(lambda: dn.height >= start, 30, "the outage to start", interval=0.01)
            outage_began = time.monotonic()
            lines_before = len(daemon.text().splitlines())
            wait_until(lambda: _healthz(url)[0] == 503, 30, "/healthz 503 during the outage")
            seen_503_after = time.monotonic() - outage_began
            code, body = _healthz(url)
            assert code == 503 and any("no chain endpoint answered" in p for p in body["problems"]), body
            wait_until(lambda: dn.height > end, 60, "the outage to end", interval=0.05)
            # Four windows opened while the chain could not be read: counted once it answers again.
            code, body = _healthz(url)
            wait_until(lambda: max(_accepted(dn)) > end, 40, "an accepted window after the outage")
            wait_until(lambda: _healthz(url)[0] == 200, 20, "/healthz back to 200 after an accepted window")
            during = daemon.text().splitlines()[lines_before:]
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
        window_s = WINDOW * BLOCK
        # One window, plus the poll that notices, plus margin for a loaded 2-core machine.
        assert seen_503_after < window_s + 6.0, seen_503_after
        lost = [n for n in range(start, end + 1) if n % EPOCH == 0 and n + WINDOW < end]
        assert len(lost) >= 3
        missed = _missed_rows(tmp_path / "s")
        for nonce in lost:
            assert nonce in missed and "no chain endpoint answered" in missed[nonce], (nonce, missed)
        warnings = [line for line in during if " WARNING " in line or " ERROR " in line]
        assert len(warnings) <= 8, "\n".join(warnings)
        assert sum("chain unreachable since" in line for line in warnings) == 1, "\n".join(warnings)
        assert any("chain answers again after" in line and "passed unseen" in line for line in during)
        # The original script's error grep (docs/MIGRATION.md) sees the outage.
        assert sum(bool(re.search("❌|ERROR", line)) for line in during) >= 1
        metrics = daemon.text()
        assert "Traceback" not in metrics


def test_the_periodic_heartbeat_does_not_rewrite_an_unchanged_heartbeat_file(
        tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    # 80 s epochs with 2 s windows: between windows nothing the file says changes, and the loop's
    # iterations refresh it every health.stall_seconds / 4 (7.5 s here). A HEARTBEAT every 0.4 s
    # that forced a rewrite made one new file per heartbeat (worker/service.py _heartbeat).
    topic = TopicConfig(id=67, metadata="t", epoch_length=400, worker_submission_window=10, ground_truth_lag=400)
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic], block_time=BLOCK)) as dn:
        state = tmp_path / "s"
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=state,
                                     bundle=bundle_dir, epoch_seconds=400 * BLOCK, extra={"heartbeat_seconds": 0.4})
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", 120)
            daemon.wait_for_line("HEARTBEAT", 60, count=2)
            before = daemon.text().count("HEARTBEAT:")
            written: set[float] = set()  # each rewrite stamps its own `time`
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                beat = read_heartbeat(state)
                if beat is not None:
                    written.add(float(beat["time"]))
                time.sleep(0.02)
            beats = daemon.text().count("HEARTBEAT:") - before
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
    assert beats >= 4, daemon.text()[-3000:]
    # One refresh at most, plus what a window that happened to open changed (a cycle, an outcome).
    assert len(written) <= 3, (len(written), beats)


def test_status_running_paused_crashed_stopped(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic()], block_time=BLOCK)) as dn:
        state = tmp_path / "s"
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=state,
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        # The hourly HEARTBEAT line at its production cadence: status must not wait for it.
        config.write_text(config.read_text().replace("heartbeat_seconds = 2.0", "heartbeat_seconds = 3600.0"))
        assert _status(config, mnemonic_file)["daemon"]["state"] == "never run"  # type: ignore[index]
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED")
            # The hourly HEARTBEAT line is an hour away; the file is rewritten every iteration.
            report = _status(config, mnemonic_file)
            assert report["daemon"]["state"] == "running", report  # type: ignore[index]
            assert report["daemon"]["pid"] == daemon.pid  # type: ignore[index]
            first = report["heartbeat"]["time"]  # type: ignore[index]
            wait_until(lambda: _status(config, mnemonic_file)["heartbeat"]["time"] > first, 20,  # type: ignore[index]
                       "the heartbeat file to be rewritten")
            daemon.signal(signal.SIGSTOP)
            try:
                words = str(_status(config, mnemonic_file)["daemon"]["words"])  # type: ignore[index]
                assert "PAUSED" in words, words
            finally:
                daemon.signal(signal.SIGCONT)
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            report = _status(config, mnemonic_file)
            assert report["daemon"]["state"] == "crashed", report  # type: ignore[index]
        finally:
            daemon.stop()
        again = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o2.log")
        again.wait_for_line("DAEMON MODE STARTED")
        assert _status(config, mnemonic_file)["daemon"]["state"] == "running"  # type: ignore[index]
        assert again.stop() == 0
        report = _status(config, mnemonic_file)
        assert report["daemon"]["state"] == "stopped", report  # type: ignore[index]


def test_windows_passed_while_paused_are_journaled_missed_with_the_cause(
        tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic()], block_time=BLOCK)) as dn:
        state = tmp_path / "s"
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=state,
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED")
            wait_until(lambda: _accepted(dn), 40, "a first accepted window")
            daemon.signal(signal.SIGSTOP)
            paused_at = dn.height
            wait_until(lambda: dn.height >= paused_at + 3 * EPOCH + WINDOW + 2, 60, "three windows to pass")
            resumed_at = dn.height
            daemon.signal(signal.SIGCONT)
            lost = [n for n in range(paused_at + 1, resumed_at - WINDOW) if n % EPOCH == 0]
            wait_until(lambda: set(lost) <= set(_missed_rows(state)), 30, "the unseen windows journaled missed")
            missed = _missed_rows(state)
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
        assert len(lost) >= 3
        for nonce in lost:
            assert nonce not in _accepted(dn)
            assert re.search(r"did not poll for \d+s", missed[nonce]), missed[nonce]


def test_busy_health_port_exits_3_naming_the_port_and_setting(
        tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic()], block_time=BLOCK)) as dn, socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK, health_port=port)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        code = daemon.wait(60)
    text = daemon.text()
    assert code == 3, text[-3000:]
    assert f":{port}" in text and "health.port" in text and "ALLORA_WORKER_HEALTH__PORT" in text
    assert "Traceback" not in text
