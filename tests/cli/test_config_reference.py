"""docs/CONFIGURATION.md is the settings model, and `config example` is a config that passes `config check`."""

from __future__ import annotations

import shutil
from pathlib import Path

from allora_worker.config_reference import DESCRIPTIONS, render_markdown, rows
from harness.daemon import quick_bundle
from tests.cli.conftest import invoke
from tests.deploy.support import DOCS


def test_every_setting_is_described_and_no_description_is_stale() -> None:
    keys = {key for key, *_ in rows()}
    assert not keys - set(DESCRIPTIONS), f"describe these in config_reference.DESCRIPTIONS: {keys - set(DESCRIPTIONS)}"
    assert not set(DESCRIPTIONS) - keys, f"no such setting any more: {set(DESCRIPTIONS) - keys}"


def test_configuration_md_is_generated_from_the_model() -> None:
    written = (DOCS / "CONFIGURATION.md").read_text(encoding="utf-8")
    assert written == render_markdown(), "docs/CONFIGURATION.md is stale: run python scripts/gen_configuration_md.py"


def test_the_reference_shows_types_defaults_and_environment_names() -> None:
    table = {key: (type_name, default, env) for key, type_name, default, env, _ in rows()}
    assert table["log.level"][2] == "`ALLORA_WORKER_LOG__LEVEL`"
    assert table["mnemonic_file"][2] == "`MNEMONIC_FILE`, `ALLORA_WORKER_MNEMONIC_FILE`"
    assert table["heartbeat_seconds"][:2] == ("number; > 0", "3600.0")
    assert table["topics.sources"][1] == '["tiingo", "binance"]'


def test_config_example_passes_config_check(tmp_path: Path, mnemonic_file: Path) -> None:
    result = invoke("config", "example")
    assert result.exit_code == 0
    config = tmp_path / "conf" / "allora-worker.toml"
    config.parent.mkdir()
    config.write_text(result.output)
    # The example names models/topic67 beside itself: where `train --out models/topic67` puts it.
    shutil.copytree(quick_bundle(tmp_path / "b" / "topic67"), config.parent / "models" / "topic67")
    checked = invoke("--config", str(config), "config", "check",
                     env={"MNEMONIC_FILE": str(mnemonic_file), "TIINGO_API_KEY": "key"})
    assert checked.exit_code == 0, checked.output
    assert "topics 67" in checked.output
