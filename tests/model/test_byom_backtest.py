"""`backtest` scores a model trained elsewhere on the same walk-forward folds as the baselines."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from allora_worker.cli import app
from allora_worker.model.onnx_import import import_onnx
from tests.model.byom_support import sklearn_pipeline
from tests.model.plugin_support import install_demo_plugin


def _rows(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(rf"\W*{re.escape(name)}\s", line)]


def test_backtest_an_onnx_bundle_against_the_baselines(candles: pd.DataFrame, tmp_path: Path) -> None:
    brought = sklearn_pipeline(candles)
    (tmp_path / "m.onnx").write_bytes(brought.onnx)
    import_onnx(tmp_path / "m.onnx", brought.features, tmp_path / "mine", candles=candles, data_source="t")
    res = CliRunner().invoke(app, ["backtest", "--bundle", str(tmp_path / "mine"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert _rows(res.output, "mine") and _rows(res.output, "zero") and _rows(res.output, "drift")
    assert re.search(r"mine (beats|does NOT beat) the", res.output)
    assert (tmp_path / "r").is_dir()


def test_backtest_a_plugin_every_48_hours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install_demo_plugin(tmp_path / "site")))
    try:
        res = CliRunner().invoke(app, ["backtest", "--predictor", "half-day-momentum", "--every", "48",
                                       "--until", "2020-01-01", "--out", str(tmp_path / "r")])
    finally:
        for name in [m for m in sys.modules if m.startswith("demo_predictor")]:
            del sys.modules[name]
    assert res.exit_code == 0, res.output
    assert _rows(res.output, "half-day-momentum") and "half-day-momentum does NOT beat" in res.output
