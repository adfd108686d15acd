"""The systemd unit: verified by systemd itself, hardened, and running the daemon as the contract says."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.support import UNIT, cli_check, require_tool

INSTALLED_BINARY = "/opt/allora-worker/venv/bin/allora-worker"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


UNIT_SECTIONS = parse_unit(UNIT.read_text(encoding="utf-8"))
SERVICE = UNIT_SECTIONS["Service"]


def one(key: str, section: dict[str, list[str]] = SERVICE) -> str:
    values = section.get(key)
    assert values, f"{key} is not set"
    return values[-1]


def _testable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's binary (verify requires an executable)."""
    binary = Path(sys.executable).parent / "allora-worker"
    assert binary.is_file(), f"{binary} missing: pip install -e ."
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_BINARY in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    return copy


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", "systemd")
    unit = _testable_copy(tmp_path)
    result = subprocess.run([tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # verify exits 0 on unknown keys and bad values; it only warns. Any line about our unit fails.
    problems = [line for line in output.splitlines() if unit.name in line]
    assert not problems, "\n".join(problems)


def test_systemd_analyze_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    # The check above is only worth something if verify reports mistakes of this kind.
    tool = require_tool("systemd-analyze", "systemd")
    unit = _testable_copy(tmp_path)
    unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=on-failure\nRestrat=always"))
    result = subprocess.run([tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    assert "Restrat" in result.stdout + result.stderr


def test_the_unit_is_rated_ok_by_systemd_analyze_security(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", "systemd")
    unit = _testable_copy(tmp_path)
    # Exposure is 0..10 ("OK" below 2); --threshold is in tenths. The unit rates about 1.5.
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_lifecycle_matches_the_daemon_contract() -> None:
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert 60 <= int(one("WatchdogSec")) <= 900
    assert one("Restart") == "on-failure"
    assert set(one("RestartPreventExitStatus").split()) == {"2", "3"}, "bad config must not restart-loop"
    assert int(one("RestartSec")) >= 5
    unit = UNIT_SECTIONS["Unit"]
    assert int(one("StartLimitIntervalSec", unit)) >= 300
    assert 3 <= int(one("StartLimitBurst", unit)) <= 10
    # The daemon stops at a safe point within 10 s after SIGTERM: leave it room before SIGKILL.
    assert one("KillSignal") == "SIGTERM"
    assert int(one("TimeoutStopSec")) >= 20
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert "network-online.target" in one("After", unit) and "network-online.target" in one("Wants", unit)
    assert one("WantedBy", UNIT_SECTIONS["Install"]) == "multi-user.target"


def test_resources_user_directories_and_secrets() -> None:
    assert one("MemoryMax") == "2G"
    assert one("CPUQuota") == "50%"
    assert one("User") == "allora-worker" or one("DynamicUser") == "yes"
    assert one("StateDirectory") == "allora-worker"
    assert one("LogsDirectory") == "allora-worker"
    env = dict(value.split("=", 1) for value in SERVICE["Environment"])
    assert env["ALLORA_WORKER_STATE_DIR"] == "%S/allora-worker"
    assert env["ALLORA_WORKER_LOG__FILE"].startswith("%L/allora-worker/")
    # The mnemonic is a credential: the service user reads a private copy, never /etc itself.
    assert one("LoadCredential") == "mnemonic:/etc/allora-worker/mnemonic"
    assert env["MNEMONIC_FILE"] == "%d/mnemonic"
    # Required (no "-" prefix): a missing secrets file must fail the start, not run without a key.
    assert one("EnvironmentFile") == "/etc/allora-worker/allora-worker.env"
    assert "MNEMONIC=" not in UNIT.read_text() and "TIINGO_API_KEY=" not in UNIT.read_text()
    assert one("StandardError") == "journal"


def test_the_unit_environment_names_are_real_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from allora_worker.config import load_settings

    env = dict(value.split("=", 1) for value in SERVICE["Environment"])
    state = tmp_path / "state"
    log = tmp_path / "logs" / "allora-worker.log"
    monkeypatch.setenv(
        "ALLORA_WORKER_STATE_DIR", env["ALLORA_WORKER_STATE_DIR"].replace("%S/allora-worker", str(state))
    )
    monkeypatch.setenv(
        "ALLORA_WORKER_LOG__FILE", env["ALLORA_WORKER_LOG__FILE"].replace("%L/allora-worker", str(log.parent))
    )
    settings = load_settings(None, env_file=None)
    assert settings.state_dir == state
    assert settings.journal_path == state / "journal.sqlite"
    assert settings.log_file == log


def test_hardening() -> None:
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet": "",
    }
    for key, value in expected.items():
        assert one(key) == value, key
    assert "@system-service" in SERVICE["SystemCallFilter"]


def test_execstart_runs_the_daemon_with_flags_the_cli_accepts() -> None:
    argv = shlex.split(one("ExecStart"))
    assert argv[0] == INSTALLED_BINARY
    assert argv[1:] == ["--config", "/etc/allora-worker/allora-worker.toml", "run"], "the unit runs the daemon"
    ok, output = cli_check(argv[1:])
    assert ok, output
