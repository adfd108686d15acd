"""Secrets and exposure: the heartbeat file and `status --json` never carry a secret a provider
echoed; the health server leaves loopback only when told to; the state directory is private
under the common umask 022.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from allora_worker.secrets import register_secret
from allora_worker.worker.heartbeat import HEARTBEAT_FILE, RunCounters, write_heartbeat
from harness.daemon import BINARY, write_worker_config

from .conftest import Rig

pytestmark = [pytest.mark.reliability]

PLANTED = "tiingo-planted-7f3a9c2e51d84b06"
# What a provider that echoes the request puts in its error body, as the cycle records it.
ECHOED = ("ResponseError: tiingo: HTTP 400: "
          f"'{{\"detail\": \"bad request\", \"headers\": {{\"Authorization\": \"Token {PLANTED}\"}}}}'")


def test_heartbeat_file_masks_a_secret_echoed_in_last_error(tmp_path: Path) -> None:
    register_secret(PLANTED)
    counters = RunCounters(last_error=ECHOED)
    path = write_heartbeat(tmp_path, counters, {"reason": f"stopped after {ECHOED}"})
    text = path.read_text()
    assert PLANTED not in text
    assert "Token ***" in json.loads(text)["last_error"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_status_json_masks_secrets_from_the_heartbeat_and_the_journal(tmp_path: Path) -> None:
    # A heartbeat file written before its redaction (or by anything else) still never reaches
    # the operator's terminal or a monitoring scrape through `status`.
    state = tmp_path / "state"
    state.mkdir()
    (state / HEARTBEAT_FILE).write_text(json.dumps({"time": 1.0, "pid": 1, "last_error": ECHOED, "cycles": 3}))
    config = tmp_path / "w.toml"
    config.write_text(f'network = "devnet"\nstate_dir = "{state}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env["TIINGO_API_KEY"] = PLANTED
    for args in (["status", "--json"], ["status"]):
        out = subprocess.run([str(BINARY), "--config", str(config), *args], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        assert PLANTED not in out.stdout + out.stderr
    report = json.loads(subprocess.run([str(BINARY), "--config", str(config), "status", "--json"],
                                       capture_output=True, text=True, env=env, timeout=60).stdout)
    assert "Token ***" in report["heartbeat"]["last_error"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "worker.example.org"])
def test_a_health_host_beyond_loopback_needs_allow_remote(tmp_path: Path, host: str, shared_bundle: Path,
                                                          mnemonic_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env["MNEMONIC_FILE"] = str(mnemonic_file)
    for allow, expected in ((False, 2), (True, 0)):
        health = {"host": host, **({"allow_remote": True} if allow else {})}
        config = write_worker_config(tmp_path / "w.toml", grpc_url="grpc+http://127.0.0.1:9090",
                                     state_dir=tmp_path / "state", bundle=shared_bundle, extra={"health": health})
        out = subprocess.run([str(BINARY), "--config", str(config), "config", "check"], capture_output=True,
                             text=True, env=env, timeout=60)
        assert out.returncode == expected, (allow, out.stdout, out.stderr)
        if expected:
            assert "allow_remote" in out.stdout + out.stderr


@pytest.mark.integration
def test_state_dir_is_private_under_umask_022(make_rig) -> None:
    rig: Rig = make_rig()
    # What an older version (or `data backfill`) left behind under umask 022.
    rig.state_dir.mkdir(mode=0o755)
    rig.state_dir.chmod(0o755)
    old_file = rig.state_dir / "candles.sqlite"
    old_file.write_bytes(b"")
    old_file.chmod(0o644)
    previous = os.umask(0o022)
    try:
        daemon = rig.start(rig.config())
    finally:
        os.umask(previous)
    rig.wait_accepted_count(1, timeout=60)
    assert daemon.stop() == 0, daemon.text()[-2000:]
    loose = []
    for path in [rig.state_dir, *rig.state_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(rig.root)} {oct(mode)}")
    assert not loose, loose
    names = {p.name for p in rig.state_dir.rglob("*")}
    assert {"journal.sqlite", "heartbeat.json", "allora-worker.log"} <= names, names
