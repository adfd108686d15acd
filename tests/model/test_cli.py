from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from allora_worker.cli import app


@pytest.fixture(scope="module")
def cdd_csv(candles: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice written the way CryptoDataDownload exports it: a note line, newest first."""
    path = tmp_path_factory.mktemp("csv") / "Binance_BTCUSDT_1h.csv"
    frame = candles.iloc[::-1]
    body = pd.DataFrame(
        {
            "unix": frame.index.asi8 // 1_000_000,
            "date": frame.index.strftime("%Y-%m-%d %H:%M:%S"),
            "symbol": "BTC/USDT",
            "open": frame["open"].to_numpy(),
            "high": frame["high"].to_numpy(),
            "low": frame["low"].to_numpy(),
            "close": frame["close"].to_numpy(),
            "Volume BTC": frame["volume"].to_numpy(),
            "Volume USDT": (frame["volume"] * frame["close"]).to_numpy(),
        }
    )
    path.write_text("https://www.CryptoDataDownload.com\n" + body.to_csv(index=False))
    return path


def test_train_then_evaluate_json(cdd_csv: Path, candles: pd.DataFrame, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "bundle"
    res = runner.invoke(
        app, ["train", "--data", str(cdd_csv), "--until", "2021-03-01", "--out", str(out), "--no-validate"]
    )
    assert res.exit_code == 0, res.output
    assert (out / "manifest.json").is_file()
    res = runner.invoke(
        app, ["evaluate", "--bundle", str(out), "--data", str(cdd_csv), "--from", "2021-03-01", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert doc["rows"] > 1000
    assert set(doc["metrics"]) == {"model", "zero", "drift", "momentum", "ewma"}
    for m in doc["metrics"].values():
        assert {"mse", "zptae", "directional_accuracy", "pearson"} <= set(m)
    assert doc["metrics"]["zero"]["directional_accuracy"] == 0.5


def test_backtest_writes_report_and_plots(tmp_path: Path, cdd_csv: Path) -> None:
    res = CliRunner().invoke(
        app, ["backtest", "--data", str(cdd_csv), "--out", str(tmp_path / "r"), "--format", "html"]
    )
    # 5000 hours is less than the default 1-year minimum training window: a clear error, not a crash.
    assert res.exit_code == 1 and "not enough data" in res.output
    res = CliRunner().invoke(
        app, ["backtest", "--data", "bundled:coinbase", "--out", str(tmp_path / "r"), "--until", "2019-01-01"]
    )
    assert res.exit_code == 0, res.output
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## Verdict" in report and "| zero |" in report
    for png in ("predicted_vs_realized.png", "rolling_error.png", "cumulative_hits.png"):
        assert (tmp_path / "r" / png).stat().st_size > 10_000


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    args = ["train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "b")]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "does not exist" in res.output
