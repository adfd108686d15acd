"""The interval schedule, per-topic end times, and a retrained bundle swapped in while running."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal import Journal
from allora_worker.market.bundled import load_bundled
from allora_worker.model.bundle import load_bundle
from allora_worker.model.train import train_bundle
from harness.daemon import DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = pytest.mark.integration

BLOCK = 0.1
EPOCH = 10


def topic(topic_id: int) -> TopicConfig:
    return TopicConfig(id=topic_id, metadata=f"topic {topic_id}", epoch_length=EPOCH, worker_submission_window=8)


def ours(dn: DevnetThread, topic_id: int = 67) -> list[int]:
    return [i.nonce for i in dn.accepted_inferences(topic_id) if i.worker == TEST_ADDRESS]


def test_interval_schedule_submits_the_newest_window_each_interval(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    # 3.5 s ticks on 1 s epochs with 0.8 s windows. Each tick tries the newest open nonce once; one
    # that lands in the 0.2 s gap between windows finds none and waits for the next tick. The half
    # epoch left over per tick alternates the ticks' phase, so two ticks in a row never both land in
    # a gap (with a whole number of epochs per tick a run that starts in the gap could stay there).
    # The test waits for three submissions, not for a fixed time: how many ticks fit in N seconds
    # depends on where in the epoch the daemon happens to start.
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic(67)], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK,
                                     topic_extra={"interval_seconds": 3.5})
        daemon = DaemonProcess(config, "--schedule", "interval", mnemonic_file=mnemonic_file,
                               output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("schedule interval")
            daemon.wait_for_line("DAEMON MODE STARTED")
            wait_until(lambda: len(ours(dn)) >= 3, 60, "three interval submissions")
        finally:
            assert daemon.stop() == 0
        submitted = sorted(ours(dn))
        assert all(n == 1 for n in Counter(submitted).values())
        # Ticks are >= 3.5 s (35 blocks) apart, so the newest nonce moves on by two epochs or more
        # between submissions (20 blocks: a margin of 1.5 s of lag): the windows between are skipped,
        # where the nonce schedule would have filled each one (10 apart).
        gaps = [b - a for a, b in pairwise(submitted)]
        assert all(gap >= 2 * EPOCH for gap in gaps), submitted
        assert daemon.text().count("SUBMISSION CYCLE #") == len(submitted)
        # The windows between ticks are skipped by design, not windows that passed unseen.
        assert "unseen" not in daemon.text()


def test_per_topic_end_time_stops_only_that_topic(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic(67), topic(69)], block_time=BLOCK)) as dn:
        # Each topic its own bundle (a shared one is a config error): the same model, copied.
        bundles = {67: bundle_dir, 69: Path(shutil.copytree(bundle_dir, tmp_path / "bundle69"))}
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundles, topics=(67, 69), epoch_seconds=EPOCH * BLOCK)
        # Topic 69 ends 4 s after start; 67 runs on.
        text = config.read_text()
        until = (datetime.now(UTC) + timedelta(seconds=6)).isoformat().replace("+00:00", "Z")
        head, _, tail = text.partition("id = 69\n")
        config.write_text(head + f"id = 69\nuntil = {until}\n" + tail)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line(r"topic 69: end time .* reached; stopping this topic", timeout=30)
            count_69 = len(ours(dn, 69))
            count_67 = len(ours(dn, 67))
            wait_until(lambda: len(ours(dn, 67)) >= count_67 + 2, 20, "topic 67 going on")
            assert len(ours(dn, 69)) == count_69
            assert daemon.process.poll() is None
        finally:
            assert daemon.stop() == 0


def test_a_bundle_retrained_in_place_is_reloaded_and_used(
    tmp_path: Path, bundle_dir: Path, mnemonic_file: Path
) -> None:
    live = tmp_path / "live-bundle"
    shutil.copytree(bundle_dir, live)
    retrained = tmp_path / "retrained"
    train_bundle(load_bundled("binance"), retrained, until=datetime(2019, 6, 1, tzinfo=UTC), validate=False)
    new_hash = load_bundle(retrained).content_hash
    old_hash = load_bundle(live).content_hash
    assert new_hash != old_hash
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic(67)], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=live, epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("Transaction hash:")
            # Artifact first, manifest last: the order a careful deploy (or `train --out`) writes them.
            for item in sorted(retrained.iterdir(), key=lambda p: p.name == "manifest.json"):
                shutil.copy2(item, live / item.name)
            daemon.wait_for_line(r"model bundle changed on disk; reloaded", timeout=20)
            wait_until(lambda: _model_hashes(tmp_path / "s") & {new_hash}, 20, "a submission from the new model")
        finally:
            assert daemon.stop() == 0
        assert {old_hash, new_hash} <= _model_hashes(tmp_path / "s")


def _model_hashes(state: Path) -> set[str]:
    with Journal(state / "journal.sqlite") as journal:
        return {e.model_hash for e in journal.entries() if e.state == "confirmed" and e.model_hash}
