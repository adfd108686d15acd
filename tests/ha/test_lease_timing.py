"""A lease that is not shorter than a topic's submission window is refused, in words, with exit 2.

The window is the chain's (blocks x the chain's own block time), so `run` and `doctor` check it
against the node; `config check` works offline and cannot know it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from allora_worker.exitcodes import EXIT_CONFIG
from allora_worker.journal_pg import PASSWORD_ENV
from harness.daemon import BINARY
from harness.postgres import PLANTED_PASSWORD
from tests.ha.conftest import BLOCK, WINDOW, Pair

pytestmark = [pytest.mark.integration]


def test_a_lease_as_long_as_the_window_is_refused_by_run_and_doctor(pair: Pair) -> None:
    window_s = WINDOW * BLOCK  # 4.5 s on this devnet
    node = pair.start("a", lease=window_s + 0.5)
    assert node.daemon.wait(90) == EXIT_CONFIG, node.daemon.text()[-3000:]
    text = node.daemon.text()
    assert "[FAIL] lease shorter than the submission window: lease_seconds = 5 is not shorter than " \
           "topic 67's submission window (45 blocks x " in text, text[-3000:]
    assert "LEASE ACQUIRED" not in text and "STANDBY" not in text
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env.update({"MNEMONIC_FILE": str(pair.mnemonic_file), PASSWORD_ENV: PLANTED_PASSWORD})
    out = subprocess.run([str(BINARY), "--config", str(pair.tmp / "a.toml"), "doctor"], env=env,
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == EXIT_CONFIG, out.stdout + out.stderr
    assert "[FAIL] lease shorter than the submission window: lease_seconds = 5" in out.stdout
    # Shorter than the window: the same check passes and says by how much.
    pair.start("b", lease=window_s / 3).daemon.wait_for_line(
        r"\[PASS\] lease shorter than the submission window: topic 67: lease 1\.5 s < window \d", 90)
