"""The soak in small: `bench/soak.py --windows 20 --profile mild`, and the targets it must meet.

The 500-window harsh run is run by hand (see bench/README.md, results in bench/results/). Ours runs
on the production chain timeouts here too, on 0.2 s blocks (3.2 s windows, as the hand-run soaks):
with 0.1 s blocks a 1.6 s window on a loaded CI machine left one window unfilled in a full-suite run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("soak")
    out = work / "soak.json"
    cmd = [sys.executable, str(ROOT / "bench" / "soak.py"), "--windows", "20", "--profile", "mild",
           "--block-time", "0.2", "--epoch-length", "20", "--driver", "ours", "--seed", "7",
           "--workdir", str(work / "run"), "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=str(work))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_soak_mild_meets_the_targets(soak: dict[str, Any]) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from soak import targets  # type: ignore[import-not-found]

    r = soak["drivers"]["ours"]
    assert r["windows_opened"] == 20
    # Every target, the 200 MB RSS ceiling included (it was filtered out here).
    missed = targets(soak)
    assert not missed, (missed, r)
    assert r["windows_accepted"] >= r["windows_eligible"]
    assert r["fds_final"] <= r["fds_start"] + 2
    # Faults were really injected.
    assert soak["devnet"]["injected"].get("error", 0) > 0


def test_soak_rss_was_sampled_and_under_200_mb(soak: dict[str, Any]) -> None:
    # targets() skips a peak it never sampled (None): the soak must have sampled it.
    r = soak["drivers"]["ours"]
    assert r["rss_mb_peak"] is not None and 0 < r["rss_mb_peak"] < 200, r["rss_mb_peak"]


def test_flaky_node_every_window_still_accepted(make_rig) -> None:
    # 3.2 s windows (32 blocks of 0.1 s): at 1.6 s a slow cycle on a loaded 2-core machine could
    # lose a window to the load rather than to the flaky node this test is about.
    rig: Rig = make_rig(epoch=40, window=32, epoch_offset=15)
    daemon = rig.start(rig.config(extra={"chain": {"confirm_timeout_seconds": 0.4}}))
    daemon.wait_for_line("DAEMON MODE STARTED")
    first = rig.next_nonce()
    rig.dn.faults.error_rate = {"*": 0.2}  # one call in five fails UNAVAILABLE, the node is up
    windows = [first + k * 40 for k in range(6)]
    rig.wait_height(windows[-1] + 33, timeout=120)
    rig.dn.faults.error_rate = {}
    assert daemon.stop() == 0
    rig.assert_no_duplicates()
    missing = sorted(set(windows) - rig.accepted_nonces())
    assert not missing, f"{len(missing)} of {len(windows)} windows missed: {missing}"


