"""A mnemonic, a private key and an API key never reach console, log files, `config show`, or errors."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from allora_worker.chain.wallet import Wallet
from allora_worker.config import load_settings, validate
from allora_worker.logging_setup import configure_logging
from allora_worker.secrets import REDACTED, redact
from tests.conftest import TEST_MNEMONIC

API_KEY = "tk_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
MNEMONIC_WORDS = TEST_MNEMONIC.split()


def _leaks(text: str, private_key_hex: str | None = None) -> list[str]:
    found = []
    if API_KEY in text:
        found.append("api key")
    # Any run of 12 mnemonic words in order, whatever the spacing, is a leak.
    if " ".join(MNEMONIC_WORDS[:12]) in " ".join(text.split()):
        found.append("mnemonic")
    if private_key_hex and private_key_hex in text.lower():
        found.append("private key")
    return found


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "allora_worker.cli", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    result = _cli(
        "config", "show", env={"MNEMONIC": TEST_MNEMONIC, "TIINGO_API_KEY": API_KEY}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "mnemonic = \"***\"" in result.stdout and "tiingo_api_key = \"***\"" in result.stdout
    assert _leaks(result.stdout + result.stderr) == []


@pytest.mark.parametrize(
    "misplaced",
    [
        {"ALLORA_WALLET_ADDR": TEST_MNEMONIC, "TIINGO_API_KEY": API_KEY},
        {"ALLORA_WORKER_CHAIN_ID": TEST_MNEMONIC, "MNEMONIC": API_KEY},
        {"TIINGO_API_KEY": TEST_MNEMONIC, "MNEMONIC": API_KEY},
        {"ALLORA_WORKER_STATE_DIR": TEST_MNEMONIC},
    ],
)
def test_secrets_in_the_wrong_field_are_masked_everywhere(tmp_path: Path, misplaced: dict[str, str]) -> None:
    commands = [("config", "show"), ("config", "show", "--json"), ("config", "check"), ("wallet", "address")]
    # Four independent read-only processes: run side by side (the time is their Python start).
    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda command: _cli(*command, env=misplaced, cwd=tmp_path), commands))
    for command, result in zip(commands, results, strict=True):
        assert _leaks(result.stdout + result.stderr) == [], (command, result.stdout, result.stderr)


def test_secret_in_toml_wrong_field_is_masked_and_reported(tmp_path: Path) -> None:
    (tmp_path / "allora-worker.toml").write_text(f'chain_id = "{TEST_MNEMONIC}"\n')
    result = _cli("config", "check", env={"MNEMONIC": TEST_MNEMONIC}, cwd=tmp_path)
    assert result.returncode == 2
    assert "chain_id: holds what looks like a mnemonic" in result.stderr
    assert _leaks(result.stdout + result.stderr) == []


def test_private_key_in_a_config_field_is_reported_and_masked(tmp_path: Path) -> None:
    key_hex = "1f" * 32
    settings = load_settings(overrides={"chain_id": key_hex, "mnemonic": TEST_MNEMONIC})
    problems = validate(settings)
    assert any("looks like a private key" in p for p in problems)
    assert _leaks("\n".join(problems) + str(settings.redacted_dict()), key_hex) == []


def test_a_mnemonic_with_typos_is_still_caught_but_an_ordinary_sentence_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What counts as "looks like a mnemonic": 12-24 words, all but two on the BIP39 list."""
    typo = " ".join(["abandonn", "abandn", *MNEMONIC_WORDS[2:]])  # two words mistyped
    sentence = "the worker on this host was set up by the operations team for the btc topic"
    settings = load_settings(overrides={"chain_id": typo, "mnemonic": TEST_MNEMONIC}, env_file=None)
    assert any("chain_id: holds what looks like a mnemonic" in p for p in validate(settings))
    assert redact(typo) == REDACTED
    settings = load_settings(overrides={"chain_id": sentence, "mnemonic": TEST_MNEMONIC}, env_file=None)
    assert not any("looks like a mnemonic" in p for p in validate(settings))
    assert redact(sentence) == sentence  # plain text stays readable in logs

    # Only the variables the settings read are judged: another program's variable is not ours.
    other_phrase = " ".join(["zoo"] * 12)
    monkeypatch.setenv("SOME_OTHER_TOOL_SEED", other_phrase)
    load_settings(overrides={"mnemonic": TEST_MNEMONIC}, env_file=None)
    assert redact(other_phrase) == other_phrase
    monkeypatch.setenv("ALLORA_WORKER_LOG__FILE", other_phrase)
    load_settings(overrides={"mnemonic": TEST_MNEMONIC}, env_file=None)
    assert redact(other_phrase) == REDACTED


def test_log_files_console_and_exceptions_are_redacted(tmp_path: Path) -> None:
    settings = load_settings(overrides={"mnemonic": TEST_MNEMONIC, "tiingo_api_key": API_KEY})
    wallet = Wallet.from_private_key(bytes.fromhex("2a" * 32))
    console = io.StringIO()
    log_file = tmp_path / "logs" / "worker.log"
    logger = configure_logging(level="DEBUG", log_file=log_file, stream=console)
    try:
        logger.info("user pasted %s and key %s", settings.mnemonic.get_secret_value(), API_KEY)  # type: ignore[union-attr]
        logger.info("wrapped mnemonic: %s", TEST_MNEMONIC.replace(" ", "\n   "))
        try:
            raise RuntimeError(f"provider said: bad token {API_KEY} for {TEST_MNEMONIC} key {'2a' * 32}")
        except RuntimeError:
            logger.exception("cycle failed")
        logging.getLogger("allora_worker.market").warning("url https://x/?token=%s", API_KEY)
    finally:
        for handler in logger.handlers:
            handler.flush()
    file_text = log_file.read_text()
    assert "cycle failed" in file_text and "Traceback" in file_text
    assert "***" in file_text and "***" in console.getvalue()
    assert _leaks(file_text, "2a" * 32) == []
    assert _leaks(console.getvalue(), "2a" * 32) == []
    assert wallet.address.startswith("allo1")


def test_json_lines_are_redacted_too(tmp_path: Path) -> None:
    load_settings(overrides={"tiingo_api_key": API_KEY})
    console = io.StringIO()
    logger = configure_logging(level="INFO", log_file=tmp_path / "w.log", json_lines=True, stream=console)
    logger.info("token=%s", API_KEY)
    for handler in logger.handlers:
        handler.flush()
    assert '"message": "token=***"' in console.getvalue()
    assert _leaks(console.getvalue() + (tmp_path / "w.log").read_text()) == []
