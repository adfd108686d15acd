"""Bring your own model: the real daemon serves imported and converted models on the devnet."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal import Journal
from allora_worker.market.bundled import load_bundled
from allora_worker.model.convert import convert_legacy
from allora_worker.model.features import HISTORY_HOURS, compute_features
from allora_worker.model.onnx_import import agreement, import_onnx
from harness.daemon import REPLAY_START, DaemonProcess, devnet_config, wait_until, write_worker_config
from tests.conftest import TEST_ADDRESS
from tests.model.byom_support import SEED_MEANING, lightgbm_model, seed_style_legacy, sklearn_pipeline
from tests.model.http_support import InferenceServer
from tests.model.plugin_support import expected, install_demo_plugin

pytestmark = pytest.mark.integration

BLOCK = 0.15
EPOCH = 10
WINDOW = 8
WINDOWS = 4


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return load_bundled("binance")


def _topic(topic_id: int, offset: int = 0) -> TopicConfig:
    return TopicConfig(id=topic_id, epoch_length=EPOCH, worker_submission_window=WINDOW, epoch_offset=offset)


def add_topic(config: Path, topic_id: int, **settings: object) -> None:
    """Append one more `[[topics]]` table (TOML allows it after the other tables)."""
    lines = ["", "[[topics]]", f"id = {topic_id}", 'sources = ["replay"]',
             f"replay_start = {REPLAY_START.isoformat().replace('+00:00', 'Z')}",
             f"replay_speed = {3600.0 / (EPOCH * BLOCK)!r}"]
    for key, value in settings.items():
        lines.append(f"{key} = " + (f'"{value}"' if isinstance(value, str | Path) else repr(value)))
    config.write_text(config.read_text() + "\n".join(lines) + "\n")


def run_daemon(tmp_path: Path, mnemonic_file: Path, topics: list[TopicConfig],
               configure: Callable[[Path, str], Path], windows: int = WINDOWS) -> tuple[list[Any], str, Path]:
    """Run the daemon until every topic has `windows` accepted inferences; return (ours, log, state)."""
    with DevnetThread(devnet_config(TEST_ADDRESS, topics, block_time=BLOCK)) as dn:
        config = configure(tmp_path / "w.toml", dn.grpc_url)
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "out.log")
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
            for t in topics:
                wait_until(lambda t=t: len([i for i in dn.accepted_inferences(t.id) if i.worker == TEST_ADDRESS])
                           >= windows, 90, f"{windows} windows of topic {t.id}")
        finally:
            code = daemon.stop()
        assert code == 0, daemon.text()[-3000:]
        ours = [i for i in dn.accepted_inferences() if i.worker == TEST_ADDRESS]
        return ours, daemon.text(), tmp_path / "state"


_WINDOW = re.compile(r"^(?P<source>.*?):(?P<start>\d{4}-[^.]*?)\.\.(?P<last>[^#]+)#")


def served(accepted: list[Any], state: Path, topic_id: int) -> list[tuple[pd.Timestamp, float]]:
    """(last candle, value) of every inference of ours the chain accepted, read back from the journal."""
    with Journal(state / "journal.sqlite") as journal:
        rows = {e.nonce: e for e in journal.entries(topic_id)}
    out = []
    for inference in accepted:
        if inference.topic_id != topic_id:
            continue
        entry = rows[inference.nonce]
        assert entry.value == inference.value
        match = _WINDOW.match(entry.data_window or "")
        assert match, entry.data_window
        out.append((pd.Timestamp(match["last"]), float(inference.value)))
    return out


def native_at(model: object, features: list[str], candles: pd.DataFrame, last: pd.Timestamp) -> float:
    window = candles.loc[last - pd.Timedelta(hours=HISTORY_HOURS - 1) : last]
    row = compute_features(window)[features].iloc[[-1]].to_numpy()
    return float(model.predict(row)[0])  # type: ignore[attr-defined]


def test_daemon_serves_onnx_sklearn_and_lightgbm_bundles(tmp_path: Path, mnemonic_file: Path,
                                                         history: pd.DataFrame) -> None:
    train = history.iloc[-5000:]
    pipe, booster = sklearn_pipeline(train), lightgbm_model(train)
    for name, brought in (("pipe", pipe), ("lgbm", booster)):
        (tmp_path / f"{name}.onnx").write_bytes(brought.onnx)
        import_onnx(tmp_path / f"{name}.onnx", brought.features, tmp_path / name, candles=train, data_source="t")

    def configure(path: Path, grpc: str) -> Path:
        write_worker_config(path, grpc_url=grpc, state_dir=tmp_path / "state", bundle=tmp_path / "pipe",
                            topics=(67,), epoch_seconds=EPOCH * BLOCK)
        add_topic(path, 69, bundle=tmp_path / "lgbm")
        return path

    accepted, text, state = run_daemon(tmp_path, mnemonic_file, [_topic(67), _topic(69, 3)], configure)
    assert "cycle skipped" not in text, text[-3000:]
    for topic_id, brought in ((67, pipe), (69, booster)):
        values = served(accepted, state, topic_id)
        assert len(values) >= WINDOWS
        got = np.array([v for _, v in values])
        want = np.array([native_at(brought.native, brought.features, history, last) for last, _ in values])
        assert len({last for last, _ in values}) >= 2  # the replayed candles moved on between windows
        # Both graphs run in double (LightGBM's through lightgbm_to_onnx): each value within 1e-6 of itself.
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-15)


def test_daemon_serves_a_converted_legacy_pickle_without_allow_pickle(tmp_path: Path, mnemonic_file: Path,
                                                                      history: pd.DataFrame) -> None:
    train = history.iloc[-5000:]
    src, sha, estimator = seed_style_legacy(train, tmp_path / "legacy")
    convert_legacy(src, tmp_path / "converted", pinned_sha256=sha, allow_pickle=True, candles=train,
                          data_source="t")
    assert not list((tmp_path / "converted").glob("*.pkl"))

    def configure(path: Path, grpc: str) -> Path:
        return write_worker_config(path, grpc_url=grpc, state_dir=tmp_path / "state",
                                   bundle=tmp_path / "converted", topics=(67,), epoch_seconds=EPOCH * BLOCK)

    accepted, text, state = run_daemon(tmp_path, mnemonic_file, [_topic(67)], configure, windows=3)
    assert "pickle" not in text.lower() and "cycle skipped" not in text, text[-3000:]
    values = served(accepted, state, 67)
    got = np.array([v for _, v in values])
    want = np.array([native_at(estimator, SEED_MEANING, history, last) for last, _ in values])
    result = agreement(want, got)
    assert len(values) >= 3 and result.ok, result.describe()


_LIES = {
    "nan": "the endpoint answered nan, not a finite number",
    "huge": "the endpoint answered 1000000000.0, beyond the topic's bound",
    "html": "the endpoint answered an HTML page, not a number",
    "hang": "no answer within 1.0 s",
}


def test_daemon_fed_by_http_fills_every_window_and_never_submits_a_lie(tmp_path: Path, mnemonic_file: Path) -> None:
    server = InferenceServer(tmp_path / "server", "seq")
    try:
        with DevnetThread(devnet_config(TEST_ADDRESS, [_topic(67)], block_time=BLOCK)) as dn:
            config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "state",
                                         bundle=tmp_path / "none", topics=(), epoch_seconds=EPOCH * BLOCK)
            add_topic(config, 67, predict_url=server.url, predict_health_url=server.health_url,
                      predict_timeout_seconds=1.0, predict_retries=1)
            daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "out.log")
            try:
                daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
                ready = dn.height
                wait_until(lambda: len(dn.accepted_inferences(67)) >= 5, 90, "five honest windows")
                honest_end = dn.height
                honest = {i.nonce: i.value for i in dn.accepted_inferences(67)}
                for mode, line in _LIES.items():
                    server.set_mode(mode)
                    daemon.wait_for_line(r"cycle skipped: prediction failed: .*" + re.escape(line), timeout=60)
                server.set_mode("unhealthy")  # the health probe fails: the predictor is not asked
                daemon.wait_for_line(r"cycle skipped: predictor unusable: health probe .* answered HTTP 503",
                                     timeout=60)
                lying_end = dn.height
                server.set_mode("seq")
                wait_until(lambda: len(dn.accepted_inferences(67)) >= len(honest) + 2, 90, "honest again")
                accepted = dn.accepted_inferences(67)
            finally:
                code = daemon.stop()
        assert code == 0, daemon.text()[-3000:]
    finally:
        server.stop()

    text = daemon.text()
    served_honestly = {str(s["body"]) for s in server.served() if s["mode"] == "seq" and s["status"] == 200}
    assert all(i.value in served_honestly for i in accepted)  # only what the endpoint honestly said
    assert len({i.value for i in accepted}) == len(accepted)  # a fresh answer for each window
    # Every window opened after READY and closed before the first lie was filled.
    windows = [h for h in range(ready + 1, honest_end - WINDOW) if h % EPOCH == 0]
    assert len(windows) >= 3 and all(h in honest for h in windows), (windows, sorted(honest))
    # While it lied, nothing was submitted: the accepted nonces jump over the lying period.
    lying = [i.nonce for i in accepted if honest_end + EPOCH < i.nonce < lying_end - EPOCH]
    assert lying == [], lying
    skipped = re.findall(r"nonce (\d+): cycle skipped: (prediction failed|predictor unusable)", text)
    assert skipped and "Traceback" not in text
    # One line per window, though each window was asked again on every poll while it was open.
    per_window = Counter(nonce for nonce, _ in skipped)
    assert max(per_window.values()) == 1, per_window
    cycles = Counter(re.findall(r"SUBMISSION CYCLE #\d+: topic 67, nonce (\d+)", text))
    assert max(cycles[nonce] for nonce in per_window) >= 3, {n: cycles[n] for n in per_window}


def test_daemon_refuses_to_start_when_the_health_probe_fails(tmp_path: Path, mnemonic_file: Path) -> None:
    """Pre-flight asks the health URL of a real server: 503, then nothing listening; exit 3 both times."""
    server = InferenceServer(tmp_path / "server", "unhealthy")
    try:
        with DevnetThread(devnet_config(TEST_ADDRESS, [_topic(67)], block_time=BLOCK)) as dn:
            config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "state",
                                         bundle=tmp_path / "none", topics=(), epoch_seconds=EPOCH * BLOCK)
            add_topic(config, 67, predict_url=server.url, predict_health_url=server.health_url,
                      predict_timeout_seconds=1.0, predict_retries=0)
            texts = []
            for attempt in ("unhealthy", "gone"):
                if attempt == "gone":
                    server.stop()
                daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / f"{attempt}.log")
                try:
                    daemon.wait_for_line(r"pre-flight failed: not starting", timeout=60)
                    code = daemon.wait(timeout=30)  # it exits by itself
                finally:
                    if daemon.process.poll() is None:  # it started after all: stop it, the test fails
                        daemon.stop()
                texts.append(daemon.text())
                assert code == 3, daemon.text()[-3000:]
    finally:
        server.stop()
    public = f"http://127.0.0.1:{server.port}/health"
    for text, said in zip(texts, ("answered HTTP 503", "failed: ConnectError"), strict=True):
        fails = [line for line in text.splitlines() if "[FAIL]" in line]
        assert len(fails) == 1 and f"[FAIL] topic 67 predictor: health probe {public} {said}" in fails[0], fails
        assert "pre-flight failed: not starting" in text and "DAEMON MODE STARTED" not in text
        assert "Traceback" not in text and server.served() == []  # never asked for a prediction


def test_daemon_serves_a_named_plugin_and_journals_its_version(tmp_path: Path, mnemonic_file: Path,
                                                               history: pd.DataFrame) -> None:
    site = install_demo_plugin(tmp_path / "site")
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic(67)], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "state",
                                     bundle=tmp_path / "none", topics=(), epoch_seconds=EPOCH * BLOCK)
        add_topic(config, 67, predictor="half-day-momentum")
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "out.log",
                               env={"PYTHONPATH": str(site)})
        try:
            daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
            wait_until(lambda: len(dn.accepted_inferences(67)) >= 3, 90, "three windows")
        finally:
            code = daemon.stop()
        accepted = [i for i in dn.accepted_inferences(67) if i.worker == TEST_ADDRESS]
    assert code == 0, daemon.text()[-3000:]
    assert "predictions from plugin 'half-day-momentum' (demo-predictor 0.3.1" in daemon.text()
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        rows = {e.nonce: e for e in journal.entries(67) if e.state == "confirmed"}
    assert {i.nonce for i in accepted} <= set(rows)
    assert {(rows[i.nonce].model_hash, rows[i.nonce].model_version) for i in accepted} == {
        ("plugin:demo-predictor:half-day-momentum", "0.3.1")}
    for last, value in served(accepted, tmp_path / "state", 67):
        assert value == pytest.approx(expected(history.loc[:last].iloc[-48:]), rel=1e-12)
