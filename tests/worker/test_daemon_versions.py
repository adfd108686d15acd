"""The daemon against the emissions versions a network may serve, an upgrade mid-run, and a
topic that stops accepting this wallet (its whitelist) while another topic goes on."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal import Journal
from harness.daemon import DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = pytest.mark.integration

BLOCK = 0.2
EPOCH = 10
WINDOW = 8
WINDOWS = 6


def topic(topic_id: int = 67) -> TopicConfig:
    return TopicConfig(id=topic_id, metadata=f"topic {topic_id}", epoch_length=EPOCH, worker_submission_window=WINDOW)


def ours(dn: DevnetThread, topic_id: int = 67) -> list[int]:
    return [i.nonce for i in dn.accepted_inferences(topic_id) if i.worker == TEST_ADDRESS]


@pytest.mark.parametrize("mode", ["v9", "v10", "upgrade"])
def test_the_daemon_fills_every_window_in_v9_v10_and_across_an_upgrade(
    mode: str, tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    # The upgrade lands in the middle of the third full window after start (known in advance: the
    # devnet starts at height 1 and the daemon takes a few seconds to start).
    upgrade = {"emissions_version": 9, "upgrade_height": None}
    extra = {"v9": {"emissions_version": 9}, "v10": {}, "upgrade": upgrade}[mode]
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK, **extra)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
            first = (dn.height // EPOCH + 1) * EPOCH  # the first window opened after READY
            if mode == "upgrade":
                dn.state.config.upgrade_height = first + 2 * EPOCH + WINDOW // 2
            last = first + (WINDOWS - 1) * EPOCH
            wait_until(lambda: dn.height > last + WINDOW + 2, 60, f"{WINDOWS} windows")
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
        text = daemon.text()
        submitted = ours(dn)
        assert all(n == 1 for n in Counter(submitted).values()), submitted  # 0 duplicates
        wanted = list(range(first, last + 1, EPOCH))
        lost = [n for n in wanted if n not in submitted]
        if mode == "upgrade":
            up = dn.state.config.upgrade_height
            assert up is not None and dn.state.emissions_version == 10
            # At most the upgrade's own window is lost (its mempool does not survive the restart).
            assert set(lost) <= {n for n in wanted if n <= up <= n + WINDOW}, (lost, up)
            assert "emissions: emissions.v9 (probed from the node)" in text
            assert "the node now serves emissions.v10" in text
        else:
            assert lost == [], (lost, wanted, submitted, text[-3000:])
            assert f"emissions: emissions.v{mode[1:]} (probed from the node)" in text
        with Journal(tmp_path / "s" / "journal.sqlite") as journal:
            confirmed = {e.nonce for e in journal.entries(topic_id=67, states=("confirmed",))}
        assert set(submitted) <= confirmed


def test_a_topic_that_stops_accepting_us_stops_alone(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic(67), topic(68)], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, topics=(67, 68), epoch_seconds=EPOCH * BLOCK)
        # Each topic needs its own bundle directory: write_worker_config gives 68 a copy.
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
            url = re.search(r"health server listening on (http://\S+) ", daemon.text())
            assert url, daemon.text()[-2000:]
            # The topic's creator sets a worker whitelist without us.
            dn.state.topic(68).config.worker_whitelist = ["allo1someoneelse"]
            daemon.wait_for_line(r"TOPIC 68 STOPPED: .*not permitted to submit payload", timeout=30)
            count_67 = len(ours(dn, 67))
            wait_until(lambda: len(ours(dn, 67)) >= count_67 + 2, 30, "topic 67 going on")
            metrics = urllib.request.urlopen(url.group(1) + "/metrics", timeout=5).read().decode()
            assert re.search(r'allora_worker_topic_fatal\{topic="68"\} 1\.0', metrics), metrics
            assert not re.search(r'allora_worker_topic_fatal\{topic="67"\} 1', metrics)
            assert daemon.process.poll() is None
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
        text = daemon.text()
        assert text.count("TOPIC 68 STOPPED") == 1  # one clear line, not one per window
        # The operator's SIGTERM ended the daemon, not topic 68 (which stopped alone, earlier).
        assert "DAEMON SHUTDOWN COMPLETE: SIGTERM" in text, text[-1500:]
        # Nothing was broadcast for 68 after the whitelist changed: simulation caught it.
        assert all(r.code == 0 for r in dn.state.txs.values())


@pytest.mark.parametrize("version", [9, 10])
def test_code_0_without_admission_is_reported_not_admitted(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path, version: int
) -> None:
    # A full active set of better EMA scores: every tx lands with code 0 and nothing is stored.
    crowded = TopicConfig(id=67, metadata="topic 67", epoch_length=EPOCH, worker_submission_window=WINDOW,
                          max_active_inferers=2, rivals={"allo1rivala": 0.9, "allo1rivalb": 0.8},
                          ema_scores={TEST_ADDRESS: 0.1})
    with DevnetThread(devnet_config(TEST_ADDRESS, [crowded], block_time=BLOCK, emissions_version=version)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
            url = re.search(r"health server listening on (http://\S+) ", daemon.text())
            assert url
            daemon.wait_for_line(r"NOT ADMITTED", timeout=30)
            wait_until(lambda: len(dn.state.not_admitted) >= 2, 30, "two windows not admitted")
            not_admitted = r'allora_worker_submissions_total\{outcome="not_admitted",topic="67"\} [1-9]'

            def scrape() -> str:
                return urllib.request.urlopen(url.group(1) + "/metrics", timeout=5).read().decode()

            # The metric follows the journal write, which follows the admission query.
            wait_until(lambda: re.search(not_admitted, scrape()) is not None, 30, "the not_admitted metric")
            metrics = scrape()
        finally:
            assert daemon.stop() == 0
        assert "our EMA score 0.1 vs the active set's lowest 0.8" in daemon.text()
        assert ours(dn) == []
        with Journal(tmp_path / "s" / "journal.sqlite") as journal:
            states = {e.nonce: e.state for e in journal.entries(topic_id=67)}
        assert {n for _, n, _ in dn.state.not_admitted} <= {n for n, s in states.items() if s == "not_admitted"}
        # Every window is not_admitted, including one whose check came only after it closed: the
        # set the chain kept for it (GetInferencesAtBlock) settles it (was: journaled confirmed).
        assert "confirmed" not in states.values(), states
        assert not re.search(r'allora_worker_submissions_total\{outcome="accepted",topic="67"\} [1-9]', metrics)


def test_a_multi_output_topic_is_refused_at_pre_flight_in_one_line(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    multi = TopicConfig(id=67, metadata="topic 67", epoch_length=EPOCH, worker_submission_window=WINDOW,
                        output_arity="multi", max_labels=2, label_whitelist=["btc", "eth"])
    with DevnetThread(devnet_config(TEST_ADDRESS, [multi], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        assert daemon.wait(timeout=60) == 3
        text = daemon.text()
        assert dn.state.txs == {}  # nothing signed, no fee spent
    assert re.search(r"\[FAIL\] .*topic 67 is a MULTI-output topic \(labels btc, eth, up to 2 per submission\); "
                     r"this worker's models give one value, so it does not submit to MULTI topics: remove topic "
                     r"67 from the config", text), text[-3000:]
    assert "Traceback" not in text


def test_a_node_of_an_unsupported_version_fails_pre_flight_naming_it(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic()], block_time=BLOCK, emissions_version=8)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        assert daemon.wait(timeout=60) == 3
        text = daemon.text()
        assert re.search(r"\[FAIL\] emissions version: .*serves emissions v8, which this worker does not support "
                         r"\(it supports v10, v9\)", text), text[-3000:]
        assert "Traceback" not in text
        assert text.count("serves emissions v8") == 1  # one line, not one per topic check


def test_the_daemon_fills_every_window_of_a_topic_timed_in_seconds(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    # Scheduler-driven epochs: a 4 s epoch and a 3 s window of block time on 0.2 s blocks (20 and
    # 15 blocks). Read as blocks they would be 4 and 3: the windows would look closed before the
    # tx could land (timeout height nonce + 3) and the unseen-window scan would invent missed
    # windows on a 4-block grid. The only end-to-end run of seconds timing: about 25 s.
    timed = TopicConfig(id=67, metadata="topic 67", epoch_length=4, worker_submission_window=3, timing="seconds")
    with DevnetThread(devnet_config(TEST_ADDRESS, [timed], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=4)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
            start = dn.height
            wait_until(lambda: len([n for n in dn.state.topic(67).opened if n > start]) >= 5, 60, "five windows")
            wanted = [n for n in dn.state.topic(67).opened if n > start][:4]
            wait_until(lambda: set(wanted) <= set(ours(dn)), 30, "four windows filled")
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
        text = daemon.text()
        assert "topic 67 counts its epoch (4) and window (3) in seconds" in text, text[-3000:]
        submitted = ours(dn)
        assert all(n == 1 for n in Counter(submitted).values()), submitted
        with Journal(tmp_path / "s" / "journal.sqlite") as journal:
            missed = {e.nonce for e in journal.entries(topic_id=67, states=("missed",))}
        assert not missed & set(wanted) and not missed - set(dn.state.topic(67).opened), missed
