"""Predictor plugins: loaded by name from the entry point, versions traced, failures in words."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from allora_worker.model.predictors import PredictorError
from allora_worker.model.predictors.plugin import PluginPredictor
from tests.model.plugin_support import expected, install_demo_plugin


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = install_demo_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(path))
    yield path
    for name in [m for m in sys.modules if m.startswith("demo_predictor")]:
        del sys.modules[name]


def test_named_plugin_loads_predicts_and_names_its_release(site: Path, candles: pd.DataFrame) -> None:
    plugin = PluginPredictor.load("half-day-momentum")
    assert plugin.content_hash == "plugin:demo-predictor:half-day-momentum" and plugin.model_version == "0.3.1"
    assert plugin.history_hours == 48
    plugin.check()
    assert plugin.predict(candles.iloc[-48:]) == expected(candles.iloc[-48:])
    # Installed but not named: never imported.
    assert "demo_predictor_noisy_was_imported" not in sys.modules


def test_unknown_broken_and_upgraded_plugins_are_refused_in_words(site: Path, candles: pd.DataFrame) -> None:
    with pytest.raises(PredictorError, match=r"no predictor plugin named 'nope'.*installed: .*half-day-momentum"):
        PluginPredictor.load("nope")
    with pytest.raises(PredictorError, match="plugin 'broken' failed: RuntimeError: the model file is missing"):
        PluginPredictor.load("broken").predict(candles)
    plugin = PluginPredictor.load("half-day-momentum")
    install_demo_plugin(site, version="0.4.0")
    with pytest.raises(PredictorError, match=r"demo-predictor is 0\.4\.0 on disk but 0\.3\.1 is running"):
        plugin.check()


def test_config_check_names_a_plugin_that_is_not_installed(site: Path) -> None:
    from allora_worker.config import Settings, TopicSettings, validate

    def problems(name: str) -> list[str]:
        settings = Settings(network="devnet", topics=[TopicSettings(id=67, predictor=name, sources=["binance"])])
        return [p for p in validate(settings, need_wallet=False) if "predictor plugin" in p]

    assert problems("half-day-momentum") == []
    (found,) = problems("half-day-momentun")
    assert "no predictor plugin named 'half-day-momentun'" in found and "half-day-momentum" in found
    assert "demo_predictor" not in sys.modules  # checking the name imported nothing
