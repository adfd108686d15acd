"""Fast unit tests of the daemon's observability parts: health verdicts, metrics, heartbeat, systemd notify."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from allora_worker.config import load_settings, validate
from allora_worker.worker.health import HealthServer, HealthState
from allora_worker.worker.heartbeat import HeartbeatFile, RunCounters, read_heartbeat, write_heartbeat
from allora_worker.worker.metrics import WorkerMetrics
from allora_worker.worker.sdnotify import SystemdNotifier
from tests.conftest import TEST_MNEMONIC


def test_health_turns_unhealthy_on_a_stalled_loop_and_on_windows_without_success() -> None:
    state = HealthState(stall_seconds=10, max_windows_without_success=2)
    healthy, _ = state.verdict()
    assert healthy
    healthy, detail = state.verdict(now=state.last_progress + 11)
    assert not healthy and "no progress for 11s" in detail["problems"][0]  # type: ignore[index]
    state.window_result(67, accepted=False)
    assert state.verdict()[0]
    state.window_result(67, accepted=False)
    healthy, detail = state.verdict()
    assert not healthy and detail["problems"] == ["topic 67: 2 windows without an accepted submission"]
    state.window_result(67, accepted=True)
    assert state.verdict()[0]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_health_server_endpoints_on_loopback() -> None:
    state = HealthState(stall_seconds=10)
    metrics = WorkerMetrics()
    server = HealthServer("127.0.0.1", 0, state, metrics).start()
    try:
        assert _get(server.url + "/readyz")[0] == 503
        state.ready = True
        assert _get(server.url + "/readyz")[0] == 200
        code, body = _get(server.url + "/healthz")
        assert code == 200 and json.loads(body)["status"] == "ok"
        state.last_progress = time.monotonic() - 60
        code, body = _get(server.url + "/healthz")
        assert code == 503 and json.loads(body)["status"] == "unhealthy"
        metrics.outcome(67, "accepted")
        code, body = _get(server.url + "/metrics")
        assert code == 200
        text = body.decode()
        assert 'allora_worker_submissions_total{outcome="accepted",topic="67"} 1.0' in text
        assert "process_start_time_seconds" in text
        assert _get(server.url + "/nope")[0] == 404
    finally:
        server.stop()


def test_metrics_refuse_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="unknown outcome"):
        WorkerMetrics().outcome(67, "succeeded-ish")


def test_heartbeat_file_is_replaced_atomically_and_readable(tmp_path: Path) -> None:
    counters = RunCounters()
    counters.cycles = 3
    counters.count("accepted")
    counters.tx("AB" * 32)
    write_heartbeat(tmp_path, counters)
    beat = read_heartbeat(tmp_path)
    assert beat is not None and beat["cycles"] == 3 and beat["outcomes"] == {"accepted": 1}
    assert beat["last_tx_hashes"] == ["AB" * 32]
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat.json"]


def test_heartbeat_file_is_rewritten_on_a_change_or_once_it_is_old(tmp_path: Path) -> None:
    counters = RunCounters()
    beats = HeartbeatFile(tmp_path, refresh_s=10.0, min_interval_s=1.0)
    assert beats.beat(counters, {"healthy": True}, now=100.0)
    written = read_heartbeat(tmp_path)
    assert written is not None and written["healthy"] is True
    # Iterations that change nothing leave the file alone until it is refresh_s old...
    assert not beats.beat(counters, {"healthy": True}, now=101.5)
    assert not beats.beat(counters, {"healthy": True}, now=109.9)
    assert read_heartbeat(tmp_path) == written
    assert beats.beat(counters, {"healthy": True}, now=110.0)
    # ... a change is written at the next iteration a second after the last write ...
    counters.cycles += 1
    assert not beats.beat(counters, {"healthy": True}, now=110.5)
    assert beats.beat(counters, {"healthy": True}, now=111.0)
    assert read_heartbeat(tmp_path)["cycles"] == 1  # type: ignore[index]
    assert beats.beat(counters, {"healthy": False}, now=112.0)
    assert read_heartbeat(tmp_path)["healthy"] is False  # type: ignore[index]
    # ... and a forced beat (start, the hourly HEARTBEAT line) always is.
    assert beats.beat(counters, {"healthy": False}, now=112.1, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat.json"]


def test_systemd_notify_reaches_the_socket_and_is_a_no_op_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert SystemdNotifier().ready() is False
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "20000000")
        notifier = SystemdNotifier()
        assert notifier.watchdog_interval == 10.0
        assert notifier.ready("up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"
        assert notifier.watchdog()
        assert sock.recv(100) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert sock.recv(100) == b"STOPPING=1"


def test_replay_source_is_refused_outside_the_devnet() -> None:
    settings = load_settings(overrides={
        "network": "testnet", "mnemonic": TEST_MNEMONIC,
        "topics": [{"id": 67, "sources": ["replay"], "replay_start": "2020-03-01T00:00:00Z"}],
    })
    problems = validate(settings)
    assert any("allowed on the devnet only" in p for p in problems), problems
    settings = load_settings(overrides={"network": "devnet", "mnemonic": TEST_MNEMONIC,
                                        "topics": [{"id": 67, "sources": ["replay"]}]})
    assert any("needs replay_start" in p for p in validate(settings))


def test_health_counts_epochs_while_the_chain_is_silent_and_says_so() -> None:
    state = HealthState(stall_seconds=600, max_windows_without_success=3)
    state.timing(67, window_seconds=50.0, epoch_seconds=60.0)
    t0 = state.last_chain_answer
    assert state.verdict(now=t0 + 40)[0]
    healthy, detail = state.verdict(now=t0 + 55)
    assert not healthy and detail["problems"] == ["no chain endpoint answered for 55s (a window is 50s)"]
    # Three epochs without a chain answer: three windows we cannot have filled, before any nonce is seen.
    healthy, detail = state.verdict(now=t0 + 185)
    assert detail["windows_without_success"] == {"67": 3}
    assert "topic 67: 3 windows without an accepted submission" in detail["problems"]  # type: ignore[operator]
    state.chain_answered()
    assert state.verdict()[0]


def test_confirmed_outcome_tells_our_landed_tx_from_an_inference_already_on_chain() -> None:
    from allora_worker.journal import Entry
    from allora_worker.worker.cycle import confirmed_outcome

    def entry(code: int | None, height: int | None) -> Entry:
        return Entry(67, 100, "confirmed", "0.1", None, None, "AB", None, 3, code, None, height, 1, None, 0.0, 0.0)

    assert confirmed_outcome(entry(0, 1234)) == "accepted"
    assert confirmed_outcome(entry(78, None)) == "already_submitted"
    # A plain 'inference already submitted' under code 1: no height of ours, never 'accepted'.
    assert confirmed_outcome(entry(1, None)) == "already_submitted"


def test_ascii_option_keeps_the_markers_words_and_drops_the_emoji() -> None:
    from allora_worker.logging_setup import to_ascii

    assert to_ascii("INFO 🚀 DAEMON MODE STARTED: 1 topic(s)") == "INFO DAEMON MODE STARTED: 1 topic(s)"
    assert to_ascii("INFO ✅ Submission success: x — ±1") == "INFO [OK] Submission success: x - +/-1"
    assert to_ascii("WARNING ❌ topic 67: chain unreachable").isascii()


def test_windows_passed_unseen_are_journaled_with_the_cause_and_never_before_height_1(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from allora_worker.chain.timing import TopicTiming
    from allora_worker.journal import MISSED, Journal
    from allora_worker.worker.cycle import CycleCounter
    from allora_worker.worker.scheduler import Shared, TopicLoop, _Blind

    with Journal(tmp_path / "journal.sqlite") as journal:
        client = SimpleNamespace(timing=lambda _topic: TopicTiming("blocks", 30, 25))
        shared = Shared(client=client, journal=journal, metrics=WorkerMetrics(),  # type: ignore[arg-type]
                        health=HealthState(), counters=RunCounters(), cycles=CycleCounter(), stop=asyncio.Event())
        loop = TopicLoop(SimpleNamespace(topic_id=67), shared)  # type: ignore[arg-type]
        loop.epoch_last_ended = 30
        assert loop._record_unseen(20, set(), None) == 0  # a young chain: the first look sets the mark
        assert loop._record_unseen(100, {90}, None) == 2  # 30 and 60 closed unseen; 0 was never a window
        loop.blind = _Blind(datetime.now(UTC), 0.0, "no chain endpoint answered (test)")
        assert loop._record_unseen(160, {150}, None) == 2  # 90 is open-then-closed: not tracked, so counted
        rows = {e.nonce: e.error for e in journal.entries(topic_id=67, states=(MISSED,))}
    assert sorted(rows) == [30, 60, 90, 120]
    assert rows[30] == "window passed unseen: the window opened and closed between two polls"
    assert rows[120] == "window passed unseen: no chain endpoint answered (test)"
    assert shared.health.windows_without_success[67] == 4
