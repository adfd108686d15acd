"""`config check` refuses, with a message and exit 2, every config that would pass and then crash the daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import VALID_TOML, assert_clean_failure, invoke

TOPIC = VALID_TOML[VALID_TOML.index("[[topics]]"):]
HEAD = VALID_TOML[: VALID_TOML.index("[[topics]]")]


def _with(head: str = "", topic: str = "", tail: str = "") -> str:
    return HEAD + head + "\n" + TOPIC + topic + "\n" + tail


CASES = {
    "endpoint without host": (_with('grpc_endpoints = ["grpc+http://:9090"]\n'), "has no host"),
    "endpoint port 99999": (_with('grpc_endpoints = ["grpc+http://127.0.0.1:99999"]\n'), "invalid port"),
    "endpoint port abc": (_with('grpc_endpoints = ["grpc+http://127.0.0.1:abc"]\n'), "invalid port"),
    "no sources": (_with(topic='sources = []\n').replace('sources = ["replay"]\n', ""), "sources"),
    "missing csv data_file": (
        _with(topic='data_file = "nowhere.csv"\n').replace('["replay"]', '["csv"]'),
        "data_file",
    ),
    "health host not a host": (_with(tail='[health]\nhost = "not a host!"\n'), "health.host"),
    "health host ::": (_with(tail='[health]\nhost = "::"\n'), "health.host"),
    "heartbeat 1e400": (_with().replace("heartbeat_seconds = 60", "heartbeat_seconds = 1e400"), "heartbeat_seconds"),
    "empty state_dir": (_with().replace('state_dir = "state"', 'state_dir = ""'), "state_dir"),
    "no grpc endpoints on devnet": (_with("grpc_endpoints = []\n"), "grpc_endpoints"),
    "topic id 2**70": (_with().replace("id = 67", f"id = {2**70}"), "topics.0.id"),
    "two topics one bundle": (_with() + TOPIC.replace("id = 67", "id = 68"), "share the bundle"),
    "empty bundle": (_with().replace('bundle = "models/topic67"', 'bundle = ""'), "bundle"),
    "mnemonic in the toml": (
        _with('mnemonic = "' + " ".join(["abandon"] * 23 + ["art"]) + '"\n'),
        "MNEMONIC_FILE",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_check_refuses(case: str, devnet_config: Path) -> None:
    text, needle = CASES[case]
    devnet_config.write_text(text)
    result = invoke("--config", str(devnet_config), "config", "check")
    assert_clean_failure(result, 2, "invalid configuration", needle)
    assert "abandon" not in result.output


def test_the_base_config_is_valid(devnet_config: Path) -> None:
    # Guards every case above: they fail because of their one change, not because the base is bad.
    result = invoke("--config", str(devnet_config), "config", "check")
    assert result.exit_code == 0, result.output


def test_non_utf8_toml_is_refused_in_words(devnet_config: Path) -> None:
    devnet_config.write_bytes(VALID_TOML.encode() + b"# caf\xe9\n")
    assert_clean_failure(invoke("--config", str(devnet_config), "config", "check"), 2, "not UTF-8")


def test_a_relative_bundle_resolves_against_the_config_file(devnet_config: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("--config", str(devnet_config), "config", "show", "--json")
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "models" / "topic67") in result.output
    assert str(tmp_path / "state") in result.output


def test_every_problem_is_listed_at_once_including_a_missing_bundle(devnet_config: Path) -> None:
    devnet_config.write_text(
        _with(topic="no_such_key = 1\n").replace('bundle = "models/topic67"', 'bundle = "models/none"')
    )
    result = invoke("--config", str(devnet_config), "config", "check")
    assert_clean_failure(result, 2, "no_such_key", "models/none does not exist")


def test_mnemonic_and_mnemonic_file_both_set_are_refused(devnet_config: Path) -> None:
    result = invoke("--config", str(devnet_config), "config", "check",
                    env={"MNEMONIC": " ".join(["abandon"] * 23 + ["art"])})
    assert_clean_failure(result, 2, "both MNEMONIC and MNEMONIC_FILE")
    assert "abandon" not in result.output
