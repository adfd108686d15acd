"""One state directory: the data commands use the cache the daemon uses (flags, env, TOML)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import invoke

CSV = (
    "https://www.CryptoDataDownload.com\n"
    "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n"
    + "".join(
        f"{1577836800 + 3600 * i},2020-01-01 {i:02d}:00:00,BTCUSDT,100,101,99,100.5,1,100\n" for i in range(24)
    )
)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "day.csv"
    path.write_text(CSV)
    return path


def test_data_import_and_show_honour_state_dir(tmp_path: Path, csv_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    state = tmp_path / "state"
    result = invoke("--state-dir", str(state), "data", "import", str(csv_file))
    assert result.exit_code == 0, result.output
    assert (state / "candles.sqlite").is_file()
    assert not (tmp_path / "home" / ".allora-worker" / "candles.sqlite").exists()
    shown = invoke("data", "show", "--state-dir", str(state))
    assert shown.exit_code == 0 and "csv:day.csv: 24 candles" in shown.output, shown.output


def test_data_show_honours_the_toml_state_dir(tmp_path: Path, csv_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "w.toml").write_text('state_dir = "state"\n')
    assert invoke("--config", str(conf_dir / "w.toml"), "data", "import", str(csv_file)).exit_code == 0
    assert (conf_dir / "state" / "candles.sqlite").is_file()
    shown = invoke("--config", str(conf_dir / "w.toml"), "data", "show")
    assert "24 candles" in shown.output, shown.output


def test_data_show_on_a_fresh_state_dir_is_not_an_error(tmp_path: Path) -> None:
    shown = invoke("--state-dir", str(tmp_path / "fresh"), "data", "show")
    assert shown.exit_code == 0, shown.output
    assert "no candles yet" in shown.output
