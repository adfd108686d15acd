"""state_url: a PostgreSQL journal is configured without its password in the config."""

from __future__ import annotations

from pathlib import Path

from allora_worker.config import load_settings, validate
from allora_worker.secrets import redact


def _problems(tmp_path: Path, mnemonic_file: Path, body: str) -> list[str]:
    toml = tmp_path / "w.toml"
    toml.write_text(f'mnemonic_file = "{mnemonic_file}"\ntopic_id = 67\n{body}\n')
    return [p for p in validate(load_settings(toml)) if "state_" in p or "key file" in p]


def test_a_postgres_state_url_with_a_private_password_file_is_valid(tmp_path: Path, mnemonic_file: Path) -> None:
    secret = tmp_path / "pgpass"
    secret.write_text("hunter2-pg\n")
    secret.chmod(0o600)
    body = f'state_url = "postgresql://allora@db.internal:5432/worker"\nstate_password_file = "{secret}"'
    assert _problems(tmp_path, mnemonic_file, body) == []
    settings = load_settings(tmp_path / "w.toml")
    assert settings.redacted_dict()["effective"]["journal"] == "postgresql://allora@db.internal:5432/worker"


def test_a_password_in_the_url_a_loose_password_file_and_a_non_postgres_url_are_refused(
    tmp_path: Path, mnemonic_file: Path
) -> None:
    [inline] = _problems(tmp_path, mnemonic_file, 'state_url = "postgresql://allora:s3cr3t-inline@db/worker"')
    assert "carries a password" in inline and "s3cr3t-inline" not in inline
    assert redact("s3cr3t-inline") == "***"  # and it never reaches a log line either
    loose = tmp_path / "pgpass"
    loose.write_text("pw\n")
    loose.chmod(0o644)
    [mode] = _problems(tmp_path, mnemonic_file,
                       f'state_url = "postgresql://allora@db/worker"\nstate_password_file = "{loose}"')
    assert "chmod 600" in mode
    [scheme] = _problems(tmp_path, mnemonic_file, 'state_url = "mysql://allora@db/worker"')
    assert "must be a PostgreSQL URL" in scheme
