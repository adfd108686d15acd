from __future__ import annotations

from pathlib import Path

import pytest

from allora_worker.config import ConfigError, load_settings, validate
from tests.conftest import TEST_ADDRESS, TEST_MNEMONIC


def _write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_precedence_flags_over_env_over_dotenv_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = _write_toml(tmp_path / "w.toml", 'heartbeat_seconds = 10\nnetwork = "devnet"\n[log]\nlevel = "DEBUG"\n')
    assert load_settings(toml).log.level == "DEBUG"
    assert load_settings(toml).heartbeat_seconds == 10

    (tmp_path / ".env").write_text("ALLORA_WORKER_LOG__LEVEL=WARNING\nALLORA_WORKER_HEARTBEAT_SECONDS=20\n")
    assert load_settings(toml).log.level == "WARNING"
    assert load_settings(toml).heartbeat_seconds == 20
    assert load_settings(toml).network == "devnet"  # untouched keys still come from TOML

    monkeypatch.setenv("ALLORA_WORKER_LOG__LEVEL", "ERROR")
    assert load_settings(toml).log.level == "ERROR"
    assert load_settings(toml).heartbeat_seconds == 20

    flags = load_settings(toml, {"log": {"level": "INFO"}, "heartbeat_seconds": 30})
    assert flags.log.level == "INFO" and flags.heartbeat_seconds == 30


def test_default_toml_file_in_working_directory_is_read(tmp_path: Path) -> None:
    _write_toml(tmp_path / "allora-worker.toml", 'network = "mainnet"\n')
    settings = load_settings()
    assert settings.network == "mainnet" and settings.effective_chain_id == "allora-mainnet-1"


def test_original_script_variable_names_are_accepted(monkeypatch: pytest.MonkeyPatch, mnemonic_file: Path) -> None:
    monkeypatch.setenv("MNEMONIC_FILE", str(mnemonic_file))
    monkeypatch.setenv("ALLORA_WALLET_ADDR", TEST_ADDRESS)
    monkeypatch.setenv("TOPIC_ID", "67")
    monkeypatch.setenv("TIINGO_API_KEY", "tiingo-secret-123456")
    settings = load_settings()
    assert settings.mnemonic_file == mnemonic_file
    assert settings.wallet_address == TEST_ADDRESS
    assert [t.id for t in settings.effective_topics] == [67]
    assert settings.tiingo_api_key is not None
    assert validate(settings) == []


def test_several_topics_in_one_config(tmp_path: Path) -> None:
    toml = _write_toml(
        tmp_path / "w.toml",
        '[[topics]]\nid = 67\nsources = ["binance"]\n\n[[topics]]\nid = 69\nsources = ["coinbase"]\n'
        'schedule = "interval"\ninterval_seconds = 600\n',
    )
    settings = load_settings(toml)
    assert [(t.id, t.schedule) for t in settings.effective_topics] == [(67, "nonce"), (69, "interval")]


def test_network_presets_and_custom_endpoints(tmp_path: Path) -> None:
    assert load_settings(overrides={"network": "testnet"}).effective_chain_id == "allora-testnet-1"
    devnet = load_settings(overrides={"network": "devnet"})
    assert all("127.0.0.1" in e for e in devnet.effective_endpoints)
    custom = load_settings(
        overrides={
            "network": "custom",
            "chain_id": "my-chain",
            "grpc_endpoints": ["grpc+https://a.example:443", "grpc+https://b.example:443"],
        }
    )
    assert custom.effective_endpoints == ["grpc+https://a.example:443", "grpc+https://b.example:443"]
    assert custom.effective_chain_id == "my-chain"


def _problems(settings_kwargs: dict[str, object], toml: str | None = None, tmp: Path | None = None) -> list[str]:
    config = _write_toml(tmp / "c.toml", toml) if toml is not None and tmp is not None else None
    try:
        settings = load_settings(config, settings_kwargs)
    except ConfigError as error:
        return error.problems
    return validate(settings)


def test_every_problem_is_listed_at_once(tmp_path: Path, mnemonic_file: Path) -> None:
    mnemonic_file.chmod(0o640)
    problems = validate(
        load_settings(
            overrides={
                "mnemonic_file": mnemonic_file,
                "wallet_address": "cosmos1notanallora",
                "topics": [{"id": 67, "sources": ["tiingo"], "until": "2001-01-01T00:00:00Z"}],
                "until": "2002-01-01T00:00:00Z",
            }
        )
    )
    text = "\n".join(problems)
    assert len(problems) == 5, problems
    assert "readable by group/others" in text and "chmod 600" in text
    assert "not a valid 'allo1...' address" in text
    assert "TIINGO_API_KEY is not set" in text
    assert "topic 67: end time 2001-01-01T00:00:00+00:00 is in the past" in text
    assert "until: end time 2002-01-01T00:00:00+00:00 is in the past" in text


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"mnemonic": " ".join(["abandon"] * 24)}, "MNEMONIC: mnemonic fails its BIP39 checksum"),
        ({"mnemonic": "abandon abandon"}, "MNEMONIC: mnemonic has 2 words"),
        ({}, "no wallet: set MNEMONIC_FILE"),
        ({"mnemonic": TEST_MNEMONIC, "network": "custom"}, "network 'custom' needs both chain_id and grpc_endpoints"),
        (
            {"mnemonic": TEST_MNEMONIC, "grpc_endpoints": ["ftp://x"], "network": "devnet"},
            "must start with grpc+http://",
        ),
        (
            {"mnemonic": TEST_MNEMONIC, "topics": [{"id": 67, "sources": ["csv"]}]},
            "topic 67 uses the csv source but has no data_file",
        ),
        (
            {"mnemonic": TEST_MNEMONIC, "topics": [{"id": 67, "bundle": "/nonexistent/bundle"}]},
            "model bundle /nonexistent/bundle does not exist",
        ),
        (
            {"mnemonic": TEST_MNEMONIC, "topics": [{"id": 5, "sources": ["binance"]}, {"id": 5}]},
            "topic 5 is configured twice",
        ),
    ],
)
def test_each_validation_message(kwargs: dict[str, object], expected: str, tmp_path: Path) -> None:
    problems = _problems(kwargs)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[[topics]]\nid = 67\nbundel = 'x'\n", "topics.0.bundel: unknown setting"),
        ("[[topics]]\nid = 0\n", "topics.0.id: Input should be greater than or equal to 1"),
        ('network = "moonnet"\n', "network: Input should be 'testnet', 'mainnet', 'devnet' or 'custom'"),
        ("this is not toml", "is not valid TOML"),
        ("[log]\nlevel = 'LOUD'\n", "log.level"),
        # One or two sources (a primary and its cross-check); a third was silently ignored.
        ("[[topics]]\nid = 67\nsources = ['binance', 'coinbase', 'tiingo']\n",
         "topics.0.sources: List should have at most 2"),
        ("[[topics]]\nid = 67\nsources = []\n", "topics.0.sources: List should have at least 1"),
    ],
)
def test_structural_errors_in_toml(toml: str, expected: str, tmp_path: Path) -> None:
    problems = _problems({}, toml, tmp_path)
    assert any(expected in p for p in problems), problems


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
