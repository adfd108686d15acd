"""The example configuration files load as they are, and no deploy file or doc carries a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import TEST_MNEMONIC
from tests.deploy.support import DEPLOY, EXAMPLE_ENV, EXAMPLE_TOML, OWNED_DOCS


def env_lines(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"not a KEY=value line: {line}"
            values[key] = value
    return values


def test_example_toml_and_env_load_as_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnemonic_file: Path
) -> None:
    from allora_worker.config import load_settings, validate

    for key, value in env_lines(EXAMPLE_ENV).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MNEMONIC_FILE", str(mnemonic_file))
    monkeypatch.setenv("ALLORA_WORKER_STATE_DIR", str(tmp_path / "state"))
    settings = load_settings(EXAMPLE_TOML, env_file=None)  # raises on any unknown or invalid key
    assert [t.id for t in settings.effective_topics] == [67]
    assert settings.health.host == "127.0.0.1"
    assert settings.log.max_bytes == 50 * 1024 * 1024 and settings.log.backups == 5
    assert settings.tiingo_api_key is not None
    # The only problem left is the bundle that `allora-worker train` creates on the server.
    problems = validate(settings)
    assert len(problems) == 1 and "model bundle" in problems[0], problems


def test_the_env_example_holds_placeholders_only() -> None:
    values = env_lines(EXAMPLE_ENV)
    assert set(values) == {"TIINGO_API_KEY"}, "every other line is a commented example"
    assert values["TIINGO_API_KEY"].startswith("REPLACE_WITH_")
    assert "MNEMONIC=" not in EXAMPLE_ENV.read_text().replace("#MNEMONIC", "")


def _deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file()) + list(OWNED_DOCS)


@pytest.mark.parametrize("path", _deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY.parent)))
def test_no_secret_in_shipped_files(path: Path) -> None:
    from allora_worker.wallet_format import english_words

    words = english_words()
    text = path.read_text(encoding="utf-8")
    assert TEST_MNEMONIC not in text
    for line in text.splitlines():
        tokens = re.findall(r"[a-z]+", line)
        run = longest = 0
        for token in tokens:
            run = run + 1 if token in words else 0
            longest = max(longest, run)
        assert longest < 12, f"looks like a mnemonic: {line}"
        assert not re.search(r"\b[0-9a-fA-F]{64}\b", line), f"looks like a private key: {line}"
        assert not re.search(r"(TIINGO_API_KEY|MNEMONIC)=(?!REPLACE_WITH_|\.\.\.|\$|/|%d/)\S", line), line
