from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from allora_worker.market.bundled import load_bundled
from allora_worker.market.schema import make_frame

# The raw exports exactly as published (see PROVENANCE.md beside them): the importer is tested on
# the real mess, from any clone, with no file outside the project.
SHARED = str(Path(__file__).parent / "fixtures" / "cryptodatadownload")
BINANCE_CSV = f"{SHARED}/Binance_BTCUSDT_1h_2017-08_2021-06.csv.gz"
COINBASE_CSV = f"{SHARED}/Coinbase_BTCUSD_1h.csv.gz"


@pytest.fixture(scope="session")
def binance() -> pd.DataFrame:
    return load_bundled("binance")


@pytest.fixture(scope="session")
def coinbase() -> pd.DataFrame:
    return load_bundled("coinbase")


def real_window(frame: pd.DataFrame, end_open: str, hours: int) -> pd.DataFrame:
    """`hours` real candles ending at `end_open` (inclusive), re-made in the contract shape."""
    last = pd.Timestamp(end_open, tz="UTC")
    part = frame.loc[last - pd.Timedelta(hours=hours - 1) : last]
    return make_frame(part.index, part.to_numpy())


def now_after(frame: pd.DataFrame, minutes: int = 5) -> datetime:
    """A `now` just after the last candle of `frame` closed."""
    last = frame.index[-1].to_pydatetime()
    return last + timedelta(hours=1, minutes=minutes)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
