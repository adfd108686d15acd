"""Is it any good, and is it earning? A replayed week on the devnet, then `report` and the status
page: realized losses for the submissions whose horizon passed, our EMA score against the active
set's lowest, balance and runway; the page rendered by a real headless chromium.

One devnet epoch is six replayed hours here, so the 168 h horizon passes after 28 epochs.

The daemon computes those losses without importing `allora_sdk` (whose package `__init__` loads the
SDK's whole stack: +44 MB of a daemon's RSS from its first realized loss on, docs/BENCHMARKS.md
"500 windows"). It runs with PYTHONPROFILEIMPORTTIME=1, so its interpreter lists every module it
imports on stderr, which is in the daemon's output. A second topic names a loss method nobody
computes: the daemon says so once and still records that topic's scores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal import Journal
from harness.daemon import BINARY, DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BLOCK = 0.1
EPOCH = 10  # 1 s epochs
WINDOW = 8
HOURS_PER_EPOCH = 6
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run([path, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _scored(state: Path) -> int:
    path = state / "journal.sqlite"
    if not path.exists():
        return 0
    with Journal(path) as journal:
        return len(journal.performances(67))


def test_a_replayed_week_gives_realized_losses_in_report_and_on_the_page(
        tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    topic = TopicConfig(id=67, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=EPOCH,
                        worker_submission_window=WINDOW, ground_truth_lag=EPOCH, loss_method="zptae",
                        # Another inferer in every window's active set, with a lower EMA score than ours (0).
                        rivals={"allo1rivalinferer": -0.5})
    odd = TopicConfig(id=68, metadata="unscorable", epoch_length=EPOCH, worker_submission_window=WINDOW,
                      ground_truth_lag=EPOCH, loss_method="rmse")
    state = tmp_path / "s"
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic, odd], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=state, topics=(67, 68),
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK / HOURS_PER_EPOCH)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log",
                               env={"PYTHONPROFILEIMPORTTIME": "1"})
        try:
            url = daemon.health_url()
            # A week of replayed hours, then a few more windows whose horizon passed.
            wait_until(lambda: _scored(state) >= 4, 150, "four submissions scored past their horizon")
            shot = tmp_path / "page.png"
            rendered = _chromium(tmp_path, "--window-size=1200,2600", f"--screenshot={shot}", url + "/")
            dom = _chromium(tmp_path, "--dump-dom", url + "/")
            with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
                metrics = resp.read().decode()
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
        accepted = {i.nonce for i in dn.accepted_inferences(67) if i.worker == TEST_ADDRESS}

    with Journal(state / "journal.sqlite") as journal:
        perfs = journal.performances(67)
        assert journal.performances(68) == [] and journal.scores(68)
    assert perfs and {p.nonce for p in perfs} <= accepted
    assert daemon.text().count("realized losses are not computed") == 1
    assert ("topic 68: realized losses are not computed (scores, balance and runway are): unknown loss method "
            "'rmse'; known: abse, bce") in daemon.text()
    imported = {line.rsplit("|", 1)[1].strip() for line in daemon.text().splitlines()
                if line.startswith("import time:")}
    assert "allora_worker.worker.performance" in imported  # the listing is there
    assert sorted(m for m in imported if m.split(".")[0] == "allora_sdk") == []
    for p in perfs:
        # The devnet's network inference is the mean of the nonce's inferences: ours alone here.
        assert p.network_value == pytest.approx(p.predicted, rel=1e-9)
        assert p.loss >= 0 and p.loss_zero >= 0

    # report: Markdown with the realized rows and its plots, and a self-contained HTML page.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env["MNEMONIC_FILE"] = str(mnemonic_file)
    out = subprocess.run([str(BINARY), "--config", str(config), "report", "--out", str(tmp_path / "rep")],
                         env=env, capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert re.search(r"realized: \d+ accepted submission", markdown)
    assert "in the active set: yes, by 0.5" in markdown
    for p in perfs:
        assert f"| {p.nonce} | {p.predicted:.6f} | {p.realized:.6f} |" in markdown
    for plot in ("topic67-predictions.png", "topic67-loss.png", "topic67-score.png", "balance.png"):
        assert (tmp_path / "rep" / plot).stat().st_size > 1000, plot
    assert "runway: fees for" in markdown

    # The page, as chromium renders it: what a person sees.
    assert rendered.returncode == 0 and shot.stat().st_size > 10_000, rendered.stderr[-2000:]
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "running" in re.search(r"id=\"running-state\"[^>]*>([^<]*)<", html).group(1)  # type: ignore[union-attr]
    assert re.search(r"realized: [1-9]\d* accepted submission", html)
    assert "in the active set: yes" in html
    assert html.count("class=\"w\"") >= 10, "the window timeline"
    assert "title=\"nonce " in html and ": accepted" in html
    assert html.count("<img") >= 3 and "data:image/png;base64," in html
    assert "<script" not in html.lower() and "http://" not in html.replace(url, "") and "https://" not in html
    assert "runway: fees for" in html
    for name in ("allora_worker_realized_loss_mean", "allora_worker_score_ema", "allora_worker_in_active_set",
                 "allora_worker_runway_days", "allora_worker_active_set_lowest_score"):
        assert name in metrics, name
    assert 'allora_worker_in_active_set{topic="67"} 1.0' in metrics
