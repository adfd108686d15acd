"""The daemon against the devnet: every window of several topics gets exactly one accepted submission."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal import Journal
from harness.daemon import DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = pytest.mark.integration

# 3.2 s windows (16 blocks of 0.2 s). At 1.2 s (8 blocks of 0.15 s) one slow cycle on a loaded
# 2-core machine cost a window, and the test asks for every one of them.
BLOCK = 0.2
EPOCH = 20
WINDOW = 16
EPOCHS = 5


def _topics() -> list[TopicConfig]:
    return [
        TopicConfig(id=67, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=EPOCH,
                    worker_submission_window=WINDOW),
        TopicConfig(id=69, metadata="second topic", epoch_length=EPOCH, worker_submission_window=WINDOW,
                    epoch_offset=7),
    ]


def test_two_topics_every_window_exactly_one_accepted(tmp_path: Path, bundle_dir: Path,
                                                        mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, _topics(), block_time=BLOCK)) as dn:
        # Each topic its own bundle (a shared one is a config error): the same model, copied.
        bundles = {67: bundle_dir, 69: Path(shutil.copytree(bundle_dir, tmp_path / "bundle69"))}
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "state",
                                     bundle=bundles, topics=(67, 69), epoch_seconds=EPOCH * BLOCK)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "out.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED")
            ready_height = dn.height
            health = daemon.health_url()
            target = ready_height + EPOCHS * EPOCH + WINDOW
            wait_until(lambda: dn.height >= target, 120, f"{EPOCHS} epochs")
            stop_height = dn.height
            with urllib.request.urlopen(health + "/healthz", timeout=5) as response:
                assert response.status == 200
                assert json.loads(response.read())["status"] == "ok"
            with urllib.request.urlopen(health + "/metrics", timeout=5) as response:
                metrics = response.read().decode()
        finally:
            code = daemon.stop()
        assert code == 0, daemon.text()[-3000:]
        text = daemon.text()
        assert "DAEMON SHUTDOWN COMPLETE" in text
        assert "Transaction hash:" in text

        for topic in _topics():
            offset = topic.epoch_offset
            nonces = [h for h in range(ready_height + 1, stop_height - WINDOW)
                      if (h - offset) % EPOCH == 0]
            ours = [i for i in dn.accepted_inferences(topic.id) if i.worker == TEST_ADDRESS]
            per_nonce = Counter(i.nonce for i in ours)
            assert all(count == 1 for count in per_nonce.values()), per_nonce  # never twice
            missing = [n for n in nonces if per_nonce[n] != 1]
            assert len(nonces) >= EPOCHS - 1 and not missing, (topic.id, nonces, sorted(per_nonce))
            submissions = [line for line in metrics.splitlines() if line.startswith("allora_worker_submissions_total")]
            assert any(f'outcome="accepted",topic="{topic.id}"' in line for line in submissions), (
                submissions, text[-5000:])

        with Journal(tmp_path / "state" / "journal.sqlite") as journal:
            confirmed = {(e.topic_id, e.nonce) for e in journal.entries() if e.state == "confirmed"}
        on_chain = {(i.topic_id, i.nonce) for i in dn.accepted_inferences() if i.worker == TEST_ADDRESS}
        assert on_chain <= confirmed  # the journal knows every inference the chain holds
