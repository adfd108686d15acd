"""Bad market data and a broken model file: no submission from them, the daemon lives, and recovers.

- A CSV source (`sources = ["csv"]`, `data_file`) that turns bad mid-run — a spike, then a missing
  hour, in the real candles shifted to end at the last closed wall-clock hour — reloaded by SIGHUP:
  every window is refused while the data is bad, and submissions resume once it is good again.
- A replay that runs past the end of the recorded candles: the data turns stale, the windows are
  refused (journaled with the reason), nothing stale is submitted, the daemon stays up.
- The model file corrupted mid-run: the cycle is skipped and logged, and a restored file resumes.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from allora_worker.journal import Journal
from allora_worker.market.bundled import load_bundled

from .conftest import Rig, wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

EPOCH, WINDOW = 30, 25


def _write_csv(path: Path, *, spike: bool = False, gap: bool = False) -> None:
    """~40 days of real Binance candles, moved so the newest one is the last closed hour now."""
    real = load_bundled("binance").loc["2020-03-01":"2020-04-15"]
    last_closed = pd.Timestamp(datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))
    frame = real.copy()
    frame.index = frame.index + (last_closed - frame.index[-1])
    if spike:  # a broken print three candles from the end: the close jumps x3 and back
        at = frame.index[-3]
        frame.loc[at, ["close", "high"]] = frame.loc[at, "close"] * 3
    if gap:  # an hour missing inside the model's history window
        frame = frame.drop(frame.index[-10])
    out = pd.DataFrame({
        "date": frame.index.strftime("%Y-%m-%d %H:%M:%S"),
        "open": frame["open"], "high": frame["high"], "low": frame["low"], "close": frame["close"],
        "volume": frame["volume"],
    })
    tmp = path.with_suffix(".tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(path)


def _phase(rig: Rig, daemon, first_nonce: int, windows: int) -> list[int]:  # type: ignore[no-untyped-def]
    nonces = [first_nonce + k * EPOCH for k in range(windows)]
    rig.wait_height(nonces[-1] + WINDOW + 1)
    return nonces


def test_csv_data_turns_bad_then_good_again(make_rig, tmp_path: Path) -> None:
    rig: Rig = make_rig(epoch=EPOCH, window=WINDOW, epoch_offset=25)
    data = tmp_path / "btcusd.csv"
    _write_csv(data)
    config = rig.config(topic_extra={"sources": ["csv"], "data_file": str(data)})
    daemon = rig.start(config)
    daemon.wait_for_line("DAEMON MODE STARTED")
    rig.wait_accepted(rig.next_nonce(), timeout=20)

    for bad in ({"spike": True}, {"gap": True}):
        _write_csv(data, **bad)
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_line("reload: configuration re-read", count=1 if "spike" in bad else 2)
        refused = _phase(rig, daemon, rig.next_nonce(), 2)
        assert not set(refused) & rig.accepted_nonces(), f"submitted from bad data ({bad})"
        assert daemon.process.poll() is None
    assert "cycle skipped: no valid candles" in daemon.text()

    _write_csv(data)
    daemon.signal(signal.SIGHUP)
    rig.wait_accepted(rig.next_nonce(rig.dn.height + 3), timeout=20)
    assert daemon.stop() == 0
    rig.assert_no_duplicates()
    with Journal(rig.state_dir / "journal.sqlite") as j:
        refused_entries = [e for e in j.entries() if e.state in ("rejected", "missed") and e.error]
    assert any("no valid candles" in (e.error or "") for e in refused_entries)


def test_replay_runs_past_the_recorded_data_and_turns_stale(make_rig) -> None:
    rig: Rig = make_rig(epoch=20, window=16, epoch_offset=15)
    # The bundled candles end at 2021-06-15 00:00; one epoch (2 s) is one replayed hour.
    config = rig.config(topic_extra={"replay_start": datetime(2021, 6, 14, 23, 0, tzinfo=UTC)})
    daemon = rig.start(config, "--until", (datetime.now(UTC) + timedelta(seconds=60)).isoformat())
    daemon.wait_for_line("DAEMON MODE STARTED")
    daemon.wait_for_line(r"cycle skipped: no valid candles", timeout=30, count=3)
    assert daemon.process.poll() is None
    accepted_before = set(rig.accepted_nonces())
    refused = _phase(rig, daemon, rig.next_nonce(), 2)
    assert rig.accepted_nonces() == accepted_before and not set(refused) & accepted_before
    assert daemon.stop() == 0
    with Journal(rig.state_dir / "journal.sqlite") as j:
        for entry in j.entries():
            if entry.state == "confirmed":
                last = pd.Timestamp(entry.data_window.rsplit("..", 1)[1].split("#")[0])  # type: ignore[union-attr]
                assert last <= pd.Timestamp("2021-06-15 00:00", tz="UTC")
    rig.assert_no_duplicates()


def test_model_file_corrupted_mid_run_then_fixed(make_rig) -> None:
    rig: Rig = make_rig(epoch=EPOCH, window=WINDOW, epoch_offset=25, copy_bundle=True)
    daemon = rig.start(rig.config())
    daemon.wait_for_line("DAEMON MODE STARTED")
    rig.wait_accepted(rig.next_nonce(), timeout=20)

    model = rig.bundle / "model.json"
    good = model.read_bytes()
    model.write_bytes(b'{"coef": [1e308, "not a number"' + b"\x00" * 16)
    refused = _phase(rig, daemon, rig.next_nonce(), 2)
    assert not set(refused) & rig.accepted_nonces()
    assert "model bundle unusable" in daemon.text()
    assert daemon.process.poll() is None

    model.write_bytes(good)
    wait_for(lambda: rig.next_nonce(rig.dn.height + 2) - EPOCH in rig.accepted_nonces(), 20,
             "a submission after the model file was restored")
    assert daemon.stop() == 0
    rig.assert_no_duplicates()
