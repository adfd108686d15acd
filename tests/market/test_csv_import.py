"""The CryptoDataDownload importer on the two real shared files and on small quirky files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allora_worker.market.bundled import load_bundled
from allora_worker.market.checks import check_agreement
from allora_worker.market.csv_source import CsvSource, read_cryptodatadownload
from allora_worker.market.errors import SchemaError
from tests.market.conftest import BINANCE_CSV, COINBASE_CSV, utc


@pytest.fixture(scope="module")
def binance_import():
    return read_cryptodatadownload(BINANCE_CSV)


@pytest.fixture(scope="module")
def coinbase_import():
    return read_cryptodatadownload(COINBASE_CSV)


def test_binance_quirks_handled(binance_import) -> None:
    frame, report = binance_import
    assert report.rows_read == 33534
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert str(frame.index.tz) == "UTC" and frame.index.name == "open_time"
    assert list(frame.dtypes) == [np.float64] * 5
    # the bad first print (open/high 16199.91, low 4261.32) is gone, the next hour is first
    assert pd.Timestamp("2017-08-17 04:00", tz="UTC") not in frame.index
    assert frame.index[0] == pd.Timestamp("2017-08-17 05:00", tz="UTC")
    assert frame["high"].max() < 65000 and (frame["high"] / frame["low"]).max() < 1.5
    assert "spike" in report.dropped["2017-08-17T04:00:00+00:00"]
    # the duplicated hour keeps one row, the full-precision one (volume 2194.598589, not 2194.6)
    assert report.duplicates_removed == 1 and report.conflicting_duplicates == 0
    assert frame.loc["2020-08-01 23:00", "volume"].item() == pytest.approx(2194.598589)
    # both timestamp styles read: a ms/"HH:MM:SS" row and a float-seconds/"04-AM" row
    assert frame.loc["2021-06-15 00:00", "close"].item() == 40355.88
    assert frame.loc["2017-08-17 08:00", "close"].item() == 4360.69
    # the 4-hour unix/date disagreement is resolved to `date`
    assert report.unix_date_disagreements == 91
    assert frame.loc["2017-09-26 14:00", "open"].item() == 3891.03
    assert frame.index[-1] == pd.Timestamp("2021-06-15 00:00", tz="UTC")
    assert report.rows_kept == len(frame) == 33532


def test_coinbase_quirks_handled(coinbase_import) -> None:
    frame, report = coinbase_import
    assert report.rows_read == report.rows_kept == 20111
    assert frame.index[0] == pd.Timestamp("2017-07-01 11:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2019-10-17 09:00", tz="UTC")
    # 12-AM is midnight and 12-PM is noon
    assert frame.loc["2019-10-17 00:00", "open"].item() == pytest.approx(
        frame.loc["2019-10-16 23:00", "close"].item()
    )
    # volume is the BTC column, not the USD one
    assert frame.loc["2019-10-17 09:00", "volume"].item() == 61.25
    assert report.missing_hours == 0


def test_sources_agree_on_their_overlap(binance_import, coinbase_import) -> None:
    b, _ = binance_import
    c, _ = coinbase_import
    shared = b.index.intersection(c.index)
    assert len(shared) > 18000
    assert check_agreement(b.loc[shared], c.loc[shared]).ok
    # and on every 30-day window of the overlap, as the provider would compare them
    for start in range(0, len(shared) - 720, 720):
        hours = shared[start : start + 720]
        result = check_agreement(b.loc[hours], c.loc[hours], names=("binance", "coinbase"))
        assert result.ok, str(result)


def test_bundled_files_are_the_importer_output(binance_import, coinbase_import) -> None:
    for (frame, _), name in ((binance_import, "binance"), (coinbase_import, "coinbase")):
        bundled = load_bundled(name)
        assert bundled.index.equals(frame.index)
        np.testing.assert_array_equal(bundled.to_numpy(), frame.to_numpy())


def _write(tmp_path: Path, text: str, gz: bool = False) -> Path:
    path = tmp_path / ("f.csv.gz" if gz else "f.csv")
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


HEADER = (
    "https://www.CryptoDataDownload.com\n"
    "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount\n"
)


def test_small_file_mixed_formats_newest_first_gzipped(tmp_path: Path) -> None:
    text = HEADER + (
        "1502956800000,2017-08-17 08:00:00,BTC/USDT,4349.99,4377.85,4333.32,4360.69,0.9499,4139.7,12\n"
        "1502953200.0,2017-08-17 07-AM,BTC/USDT,4324.35,4349.99,4287.41,4349.99,4.44,19241.06,NULL\n"
        "1502949600.0,2017-08-17 06-AM,BTC/USDT,4315.32,4345.45,4309.37,4324.35,7.23,31282.31,NULL\n"
    )
    frame, report = read_cryptodatadownload(_write(tmp_path, text, gz=True))
    assert list(frame.index) == [pd.Timestamp(f"2017-08-17 0{h}:00", tz="UTC") for h in (6, 7, 8)]
    assert frame["close"].tolist() == [4324.35, 4349.99, 4360.69]
    assert report.dropped == {}


def test_conflicting_duplicates_are_both_dropped(tmp_path: Path) -> None:
    text = HEADER + (
        "1502956800000,2017-08-17 08:00:00,BTC/USDT,4349.99,4377.85,4333.32,4360.69,0.9,1,1\n"
        "1502956800.0,2017-08-17 08-AM,BTC/USDT,5349.99,5377.85,5333.32,5360.69,0.9,1,NULL\n"
        "1502953200.0,2017-08-17 07-AM,BTC/USDT,4324.35,4349.99,4287.41,4349.99,4.44,1,NULL\n"
    )
    frame, report = read_cryptodatadownload(_write(tmp_path, text))
    assert list(frame.index) == [pd.Timestamp("2017-08-17 07:00", tz="UTC")]
    assert report.conflicting_duplicates == 1
    assert "conflicting" in report.dropped["2017-08-17T08:00:00+00:00"]


def test_bad_rows_dropped_with_reasons(tmp_path: Path) -> None:
    text = HEADER + (
        "1502960400000,2017-08-17 09:00:00,BTC/USDT,4360,4400,4350,4390,1,1,1\n"
        "1502956800000,2017-08-17 08:00:00,BTC/USDT,4349.99,4300,4333.32,4360.69,0.9,1,1\n"  # high < open
        "1502953200000,2017-08-17 07:00:00,BTC/USDT,0,4349.99,4287.41,4349.99,4.44,1,1\n"  # zero
        "1502949600000,2017-08-17 06:00:00,BTC/USDT,NaN,4345.45,4309.37,4324.35,7.23,1,1\n"  # NaN
        "garbage,not a date,BTC/USDT,1,1,1,1,1,1,1\n"
    )
    frame, report = read_cryptodatadownload(_write(tmp_path, text))
    assert list(frame.index) == [pd.Timestamp("2017-08-17 09:00", tz="UTC")]
    reasons = sorted(report.dropped.values())
    assert reasons == [
        "OHLC inconsistent",
        "missing/non-positive price",
        "missing/non-positive price",
        "unparseable time",
    ]


def test_not_a_candle_csv(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no header"):
        read_cryptodatadownload(_write(tmp_path, "<html><body>502 Bad Gateway</body></html>\n"))


def test_csv_source_slices_half_open(tmp_path: Path) -> None:
    source = CsvSource(COINBASE_CSV)
    part = source.fetch(utc(2018, 1, 1, 0), utc(2018, 1, 1, 5))
    assert len(part) == 5 and part.last == utc(2018, 1, 1, 4)
    assert source.name == "csv:Coinbase_BTCUSD_1h.csv.gz"
