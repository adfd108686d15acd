"""What the CLI tests share: a valid devnet config to break one key at a time, and an in-process runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from allora_worker.cli import app

VALID_TOML = """\
network = "devnet"
state_dir = "state"
heartbeat_seconds = 60

[[topics]]
id = 67
bundle = "models/topic67"
sources = ["replay"]
replay_start = "2020-03-01T00:00:00Z"
"""


@pytest.fixture
def devnet_config(tmp_path: Path, mnemonic_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config that passes `config check`; the tests change one thing in it."""
    (tmp_path / "models" / "topic67").mkdir(parents=True)
    monkeypatch.setenv("MNEMONIC_FILE", str(mnemonic_file))
    path = tmp_path / "allora-worker.toml"
    path.write_text(VALID_TOML)
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """The command in-process; stderr kept apart, exceptions not swallowed into exit 1 silently."""
    return CliRunner().invoke(app, list(args), env=env)


def assert_clean_failure(result: Result, code: int, *needles: str) -> None:
    """Exit `code`, no traceback, and each needle in the output."""
    output = result.output  # stdout and stderr, interleaved
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {type(result.exception).__name__}: {result.exception}\n{output}"
    )
    assert "Traceback" not in output, output
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}:\n{output}"
    flat = " ".join(output.replace("│", " ").split())  # rich wraps long messages in a box
    for needle in needles:
        assert " ".join(needle.split()) in flat, f"{needle!r} not in:\n{output}"
