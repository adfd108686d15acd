"""Each lifecycle path of the daemon, run as the real CLI against the devnet."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, FaultPlan, TopicConfig
from allora_worker.journal import Journal
from harness.daemon import BINARY, DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = pytest.mark.integration

BLOCK = 0.1
EPOCH = 10
WINDOW = 5


def topic(topic_id: int = 67, **extra: object) -> TopicConfig:
    fields: dict[str, object] = {"epoch_length": EPOCH, "worker_submission_window": WINDOW, **extra}
    return TopicConfig(id=topic_id, metadata=f"topic {topic_id}", **fields)  # type: ignore[arg-type]


def ours(dn: DevnetThread, topic_id: int = 67) -> list[int]:
    return sorted(i.nonce for i in dn.accepted_inferences(topic_id) if i.worker == TEST_ADDRESS)


def cli(*args: str, mnemonic_file: Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env["MNEMONIC_FILE"] = str(mnemonic_file)
    return subprocess.run([str(BINARY), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_until_ends_the_daemon_gracefully(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        # The end time is fixed before the process starts: 10 s covers a start on a loaded machine
        # (it can take 5 s) and one submission. A start-up slower still leaves the daemon no window
        # to fill: that run proves nothing and is run again with a longer lead. Each run waits for
        # the process to end, not for a clock.
        for lead in (10, 30, 60):
            until = datetime.now(UTC) + timedelta(seconds=lead)
            output = tmp_path / f"o-{lead}.log"
            daemon = DaemonProcess(config, "--until", until.isoformat(), mnemonic_file=mnemonic_file, output=output)
            code = daemon.wait(timeout=lead + 120)
            ended = datetime.now(UTC)
            text = daemon.text()
            if ours(dn) or lead == 60:
                break
            assert code in (0, 2), text[-3000:]  # ended at once, or the end time passed before validation
        assert code == 0, text[-3000:]
        assert ended >= until
        assert re.search(r"end time .* reached", text)
        assert "DAEMON SHUTDOWN COMPLETE: end time" in text
        assert ours(dn)  # it submitted before it ended


def test_sigterm_mid_cycle_stops_within_10s_and_restart_reconciles(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    # Slow broadcasts keep the cycle inside the tx step when SIGTERM arrives. A 9 s window: the tx
    # (signed with a timeout height at the window's end) must not expire during the slow broadcast.
    faults = FaultPlan(seed=1, latency={"BroadcastTx": 2.0})
    cfg = devnet_config(TEST_ADDRESS, [topic(epoch_length=100, worker_submission_window=90)],
                        block_time=BLOCK, faults=faults)
    with DevnetThread(cfg) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=100 * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        match = daemon.wait_for_line(r"SUBMISSION CYCLE #1: topic 67, nonce (\d+)")
        nonce = int(match.group(1))

        def journaled_state() -> str | None:
            with Journal(tmp_path / "s" / "journal.sqlite") as journal:
                entry = journal.get(67, nonce)
            return entry.state if entry is not None else None

        # The signed tx is on disk and its (2 s) broadcast under way: now, not after a fixed sleep.
        wait_until(lambda: journaled_state() == "signed", 30, "the signed tx in the journal")
        daemon.signal(signal.SIGTERM)
        stopped = time.monotonic()
        code = daemon.wait(timeout=15)
        assert code == 0, daemon.text()[-3000:]
        assert time.monotonic() - stopped < 10
        assert "SIGTERM: stopping at the next safe point" in daemon.text()
        assert "DAEMON SHUTDOWN COMPLETE" in daemon.text()

        with Journal(tmp_path / "s" / "journal.sqlite") as journal:
            entry = journal.get(67, nonce)
        # Stopped inside the tx step: the tx stays in flight (or, if it landed within the grace,
        # is confirmed with the hash the chain holds); never claimed again, never rejected.
        assert entry is not None and entry.txhash, entry
        if entry.state == "confirmed":
            assert entry.txhash in {i.txhash for i in dn.accepted_inferences(67)}
        else:
            assert entry.state in ("signed", "broadcast"), entry

        dn.faults.latency.clear()
        again = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o2.log")
        try:
            again.wait_for_line("DAEMON MODE STARTED")
            wait_until(lambda: nonce in ours(dn), 30, f"nonce {nonce} accepted after restart")
            assert ours(dn).count(nonce) == 1
        finally:
            assert again.stop() == 0


def test_sighup_reloads_config_and_adds_a_topic(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic(67), topic(69)], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, topics=(67,), epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("Transaction hash:")
            assert not ours(dn, 69)
            # Topic 69 gets its own copy of the model (two topics may not share a bundle).
            bundles = {67: bundle_dir, 69: Path(shutil.copytree(bundle_dir, tmp_path / "bundle69"))}
            write_worker_config(config, grpc_url=dn.grpc_url, state_dir=tmp_path / "s", bundle=bundles,
                                topics=(67, 69), epoch_seconds=EPOCH * BLOCK)
            daemon.signal(signal.SIGHUP)
            daemon.wait_for_line(r"reload: configuration re-read; topics 67, 69")
            wait_until(lambda: ours(dn, 69), 20, "a topic 69 submission after SIGHUP")
            before = len(ours(dn, 67))
            wait_until(lambda: len(ours(dn, 67)) > before, 20, "topic 67 still submitting")
        finally:
            assert daemon.stop() == 0


def test_corrupted_model_mid_run_skips_cycles_and_daemon_lives(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for item in bundle_dir.iterdir():
        (bundle / item.name).write_bytes(item.read_bytes())
    artifact = next(p for p in bundle.iterdir() if p.name != "manifest.json")
    pristine = artifact.read_bytes()
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("Transaction hash:")
            artifact.write_bytes(pristine + b"\n garbage")
            daemon.wait_for_line(r"cycle skipped: model bundle unusable")
            accepted_while_broken = len(ours(dn))
            time.sleep(3 * EPOCH * BLOCK)
            assert len(ours(dn)) == accepted_while_broken  # nothing submitted from a broken model
            assert daemon.process.poll() is None  # alive
            artifact.write_bytes(pristine)
            wait_until(lambda: len(ours(dn)) > accepted_while_broken, 20, "submissions resume")
        finally:
            assert daemon.stop() == 0


def test_no_valid_data_skips_the_cycle_and_daemon_lives(tmp_path: Path, bundle_dir: Path,
                                                        mnemonic_file: Path) -> None:
    # The replay reaches the end of the bundled data after ~3 windows: then every window is stale.
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(
            tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s", bundle=bundle_dir,
            epoch_seconds=EPOCH * BLOCK, topic_extra={"replay_start": datetime(2021, 6, 14, 23, tzinfo=UTC)},
        )
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line(r"cycle skipped: no valid candles", timeout=40)
            stale_from = len(ours(dn))
            daemon.wait_for_line(r"window closed without an accepted submission", timeout=20)
            assert daemon.process.poll() is None
            time.sleep(2 * EPOCH * BLOCK)
            assert len(ours(dn)) == stale_from
        finally:
            assert daemon.stop() == 0
        assert "stale" in daemon.text()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unregistered", r"is not registered as a worker; run: allora-worker register --topic 67"),
        ("wrong_chain", r"configured chain id 'other-chain' but the node serves 'allora-devnet-1'"),
        ("unfunded", r"holds 0 uallo, below the minimum 1; fund the wallet"),
        ("inactive", r"inactive on chain"),
    ],
)
def test_preflight_failures_exit_3_before_ready(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path,
                                                case: str, expected: str) -> None:
    topics = [topic(active=case != "inactive")]
    cfg = devnet_config(TEST_ADDRESS, topics, block_time=BLOCK, registered=case != "unregistered")
    if case == "unfunded":
        cfg.accounts.clear()
    with DevnetThread(cfg) as dn:
        extra = {"chain_id": "other-chain"} if case == "wrong_chain" else None
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, extra=extra)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        code = daemon.wait(timeout=30)
    text = daemon.text()
    assert code == 3, text
    assert re.search(expected, text), text
    assert "DAEMON MODE STARTED" not in text
    assert "pre-flight failed: not starting" in text


def test_bad_config_exits_2_listing_every_problem(tmp_path: Path, mnemonic_file: Path) -> None:
    config = tmp_path / "w.toml"
    config.write_text('network = "devnet"\n[[topics]]\nid = 67\nsources = ["tiingo"]\nbundel = "x"\n')
    result = cli("--config", str(config), "run", mnemonic_file=mnemonic_file, cwd=tmp_path)
    assert result.returncode == 2
    assert "topics.0.bundel: unknown setting" in result.stderr


def test_second_instance_on_the_same_wallet_is_refused(tmp_path: Path, bundle_dir: Path,
                                                       mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        first = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "1.log")
        try:
            first.wait_for_line("DAEMON MODE STARTED")
            second = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "2.log")
            assert second.wait(timeout=30) == 3
            assert f"another worker for this wallet is running: pid {first.pid}" in second.text()
        finally:
            assert first.stop() == 0


def test_once_submits_and_exit_code_says_so_and_dry_run_never_broadcasts(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    block, epoch = 0.2, 20
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic(epoch_length=epoch, worker_submission_window=epoch - 1)],
                                    block_time=block)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=epoch * block)

        def launch(*args: str, name: str) -> DaemonProcess:
            # Start just after a window opened, so it is still open when the process is up.
            wait_until(lambda: dn.height > epoch and dn.height % epoch in (1, 2), 30, "a fresh window")
            return DaemonProcess(config, *args, mnemonic_file=mnemonic_file, output=tmp_path / name)

        dry = launch("--once", "--dry-run", name="d.log")
        assert dry.wait(timeout=40) == 0, dry.text()[-3000:]
        assert re.search(r"DRY RUN topic 67 nonce \d+: signed tx [0-9A-F]{64}", dry.text())
        assert ours(dn) == []

        once = launch("--once", name="o.log")
        assert once.wait(timeout=40) == 0, once.text()[-3000:]
        assert len(ours(dn)) == 1

        assert len(set(ours(dn))) == len(ours(dn))

    # Between windows there is nothing to submit: exit 4, and nothing is sent.
    quiet = devnet_config(TEST_ADDRESS, [topic(epoch_length=10_000, worker_submission_window=1)], block_time=block)
    with DevnetThread(quiet) as dn:
        wait_until(lambda: dn.height > 3, 10, "the first window to close")
        config = write_worker_config(tmp_path / "q.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "q",
                                     bundle=bundle_dir)
        idle = DaemonProcess(config, "--once", mnemonic_file=mnemonic_file, output=tmp_path / "q.log")
        assert idle.wait(timeout=40) == 4, idle.text()[-3000:]
        assert "nothing submitted" in idle.text()
        assert ours(dn) == []


def test_status_and_doctor_report_in_words(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        doctor = cli("--config", str(config), "doctor", mnemonic_file=mnemonic_file, cwd=tmp_path)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        for check in ("config", "wallet", "chain id", "balance", "topic 67 exists and is active",
                      "topic 67 registration", "topic 67 model bundle", "topic 67 market data"):
            assert f"[PASS] {check}" in doctor.stdout, doctor.stdout
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("Transaction hash:", count=2)
            daemon.wait_for_line("HEARTBEAT")
        finally:
            assert daemon.stop() == 0
        status = cli("--config", str(config), "status", "--json", mnemonic_file=mnemonic_file, cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["totals"].get("confirmed", 0) >= 2
        hashes = set(report["last_tx_hashes"])
        assert hashes and hashes <= {i.txhash for i in dn.accepted_inferences(67)}
        assert report["heartbeat"]["stopped"] is True
        words = cli("--config", str(config), "status", mnemonic_file=mnemonic_file, cwd=tmp_path)
        assert "submissions by state: confirmed=" in words.stdout

    # The devnet above is stopped now: doctor says the chain is unreachable and exits 3.
    stopped = cli("--config", str(config), "doctor", mnemonic_file=mnemonic_file, cwd=tmp_path)
    assert stopped.returncode == 3
    assert "[FAIL] chain id" in stopped.stdout

    # A wallet that is not registered in the topic: that very check fails, the others pass.
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK, registered=False)) as dn:
        config = write_worker_config(tmp_path / "u.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "u",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        unregistered = cli("--config", str(config), "doctor", mnemonic_file=mnemonic_file, cwd=tmp_path)
    assert unregistered.returncode == 3, unregistered.stdout + unregistered.stderr
    assert "[FAIL] topic 67 registration" in unregistered.stdout, unregistered.stdout
    assert "[PASS] chain id" in unregistered.stdout and "[PASS] balance" in unregistered.stdout


def test_demo_runs_offline_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_") and k != "MNEMONIC"}
    result = subprocess.run(
        # The demo's own block time and epoch (windows of 2.5 s): devnet and daemon share one
        # process, and 0.5 s windows were missed on a loaded 2-core CI machine (1 of 3, 0f72090).
        [str(BINARY), "demo", "--windows", "3", "--block-time", "0.25", "--epoch-length", "20",
         "--workdir", str(tmp_path / "demo")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "windows open: 3, accepted: 3, missed: 0" in result.stdout
    assert "model: none at" in result.stdout  # it trained one
    assert "DAEMON SHUTDOWN COMPLETE" in result.stderr
