"""Shared fixtures: every test runs in its own directory with no user environment leaking in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from allora_worker import secrets

TEST_MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
TEST_ADDRESS = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"

_USER_VARIABLES = ("MNEMONIC", "MNEMONIC_FILE", "ALLORA_WALLET_ADDR", "TOPIC_ID", "TIINGO_API_KEY")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name in _USER_VARIABLES or name.startswith("ALLORA_WORKER_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    # A fresh registry per test: secrets one test registers never mask another's output.
    monkeypatch.setattr(secrets, "REGISTRY", secrets.SecretRegistry())
    yield


@pytest.fixture
def mnemonic_file(tmp_path: Path) -> Path:
    path = tmp_path / "mnemonic.txt"
    path.write_text(TEST_MNEMONIC + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """One real PostgreSQL server for the whole session (initdb + pg_ctl in a temp dir)."""
    from harness.postgres import PgServer, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    server = PgServer(bindir)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture()
def pg_url(postgres_server: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the session's PostgreSQL, with the journal's password in the environment."""
    from allora_worker.journal_pg import PASSWORD_ENV
    from harness.postgres import PLANTED_PASSWORD

    monkeypatch.setenv(PASSWORD_ENV, PLANTED_PASSWORD)
    return str(postgres_server.url(postgres_server.fresh_database()))  # type: ignore[attr-defined]
