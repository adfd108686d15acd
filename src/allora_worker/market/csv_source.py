"""CryptoDataDownload CSV exports (plain or gzipped) -> clean candle frames.

The exports are real-world messy (see data/PROVENANCE.md and tests/market/fixtures/cryptodatadownload/PROVENANCE.md):
a URL or note line before the header, rows newest first, `unix` in milliseconds or in seconds
written as floats, `date` as `2021-06-15 00:00:00` or `2017-08-17 04-AM`, `NULL` trade counts,
duplicated hours, and broken prints. One more quirk found while building this importer: in the
Binance export, 91 rows (2017-09-22 20:00 .. 2017-09-26 14:00) have a `unix` value 4 hours
later than their `date`; the `date` reading matches Coinbase's prices hour by hour (return
correlation 0.90 vs 0.13), so `date` is trusted when the two disagree.

Nothing is filled in: dropped rows leave gaps, which the checks then see.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from allora_worker.market.checks import CheckConfig, find_spikes
from allora_worker.market.errors import SchemaError
from allora_worker.market.schema import COLUMNS, HOUR, INDEX_NAME, PRICE_COLUMNS, Candles, make_frame, to_ns, to_utc

log = logging.getLogger(__name__)

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %I-%p", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%z")
# The project's own normalized CSV (the bundled data, `open_time` ISO 8601 UTC) names its time
# column like the candle frame's index; it reads as a `date` column.
_DATE_COLUMN_ALIASES = (INDEX_NAME,)
# Duplicated hours whose prices differ by more than this are contradictions, not re-exports.
_DUPLICATE_TOLERANCE = 1e-3


@dataclass
class ImportReport:
    """What the importer saw and did, so that cleaning is visible, not silent."""

    path: str
    rows_read: int = 0
    rows_kept: int = 0
    duplicates_removed: int = 0
    conflicting_duplicates: int = 0
    unix_date_disagreements: int = 0
    dropped: dict[str, str] = field(default_factory=dict)  # open time (or row) -> reason
    first: str | None = None
    last: str | None = None
    missing_hours: int = 0

    def summary(self) -> str:
        return (
            f"{self.path}: read {self.rows_read} rows, kept {self.rows_kept} "
            f"({self.first} .. {self.last}), removed {self.duplicates_removed} duplicate(s) "
            f"({self.conflicting_duplicates} conflicting), dropped {len(self.dropped)} bad row(s), "
            f"trusted `date` over `unix` on {self.unix_date_disagreements} row(s), "
            f"{self.missing_hours} missing hour(s)"
        )


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SchemaError(f"{path.name} looks gzipped but does not decompress: {exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{path.name} is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}): not a candle CSV, "
            "or saved in another encoding"
        ) from None


def _header_line(lines: list[str]) -> int:
    """Index of the header line: the first one naming the OHLC columns (line 1 is often a URL)."""
    for i, line in enumerate(lines[:10]):
        names = {c.strip().lower() for c in line.split(",")}
        if {"open", "high", "low", "close"} <= names:
            return i
    raise SchemaError("no header with open,high,low,close in the first 10 lines: not a candle CSV")


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _parse_dates(text: pd.Series) -> pd.Series:
    """Parse each cell with whichever known format fits it (a file mixes several)."""
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    text = text.astype("string").str.strip()
    for fmt in _DATE_FORMATS:
        todo = result.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce", utc=True)
        result[todo] = parsed
    return result


def _parse_unix(values: pd.Series) -> pd.Series:
    """Seconds or milliseconds: no plausible candle in seconds reaches 1e11 (year 5138)."""
    num = pd.to_numeric(values, errors="coerce").astype("float64")
    ms = np.where(num > 1e11, num, num * 1000.0)
    return pd.Series(pd.to_datetime(ms, unit="ms", utc=True, errors="coerce"), index=values.index)


def _volume_column(columns: list[str]) -> str:
    """The base-currency (BTC) volume: the exports also carry a quote volume (USD/USDT)."""
    for candidate in ("volume_btc", "volume_from", "volume_base"):
        if candidate in columns:
            return candidate
    if "volume" in columns:
        return "volume"
    raise SchemaError(f"no base volume column among {columns}")


def read_cryptodatadownload(
    path: str | Path, *, config: CheckConfig | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    """Read one export into a clean candle frame plus a report of every fix and drop."""
    path = Path(path)
    cfg = config or CheckConfig()
    report = ImportReport(path=path.name)
    lines = _read_text(path).splitlines()
    start = _header_line(lines)
    try:
        table = pd.read_csv(io.StringIO("\n".join(lines[start:])), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise SchemaError(f"{path.name}: not a readable CSV table: {str(exc).strip()}") from None
    table.columns = [_norm(c) for c in table.columns]
    report.rows_read = len(table)
    cols = list(table.columns)
    if "date" not in cols:
        alias = next((c for c in _DATE_COLUMN_ALIASES if c in cols), None)
        if alias is not None:
            table = table.rename(columns={alias: "date"})
            cols = list(table.columns)
    if "date" not in cols and "unix" not in cols:
        raise SchemaError(f"no `date`, `{INDEX_NAME}` or `unix` column among {cols}")

    dates = _parse_dates(table["date"]) if "date" in cols else None
    unix = _parse_unix(table["unix"]) if "unix" in cols else None
    if dates is not None and unix is not None:
        both = dates.notna() & unix.notna()
        report.unix_date_disagreements = int((both & (dates != unix)).sum())
        open_time = dates.fillna(unix)
    else:
        open_time = dates if dates is not None else unix
    assert open_time is not None

    vol_col = _volume_column(cols)
    values = pd.DataFrame(
        {c: pd.to_numeric(table[c], errors="coerce") for c in PRICE_COLUMNS}
        | {"volume": pd.to_numeric(table[vol_col], errors="coerce")}
    )
    values[INDEX_NAME] = open_time.to_numpy()

    # Row-level validity, before duplicates are resolved (a bad copy must not win a tie).
    prices = values[list(PRICE_COLUMNS)].to_numpy(dtype="float64")
    o, h, low, c = prices.T
    with np.errstate(invalid="ignore"):
        reasons = np.select(
            [
                values[INDEX_NAME].isna().to_numpy(),
                ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1),
                ~np.isfinite(values["volume"].to_numpy()) | (values["volume"].to_numpy() < 0),
                (h < np.maximum(o, c)) | (low > np.minimum(o, c)),
            ],
            [
                "unparseable time",
                "missing/non-positive price",
                "missing/negative volume",
                "OHLC inconsistent",
            ],
            default="",
        )
    for i in np.flatnonzero(reasons != ""):
        when = values[INDEX_NAME].iloc[i]
        key = when.isoformat() if pd.notna(when) else f"line {start + 2 + i}"
        report.dropped[key] = str(reasons[i])
    values = values.loc[reasons == ""]

    values = _resolve_duplicates(values, report)
    values = values.sort_values(INDEX_NAME, kind="stable")
    frame = make_frame(values[INDEX_NAME], values[list(COLUMNS)].to_numpy())

    spikes = find_spikes(frame, cfg.max_range_log, cfg.max_jump_log)
    for when, why in spikes.items():
        report.dropped[when.isoformat()] = f"spike: {why}"
    if spikes:
        frame = frame.drop(index=[pd.Timestamp(when) for when in spikes])

    report.rows_kept = len(frame)
    if not len(frame):
        examples = sorted(set(report.dropped.values()))[:3]
        raise SchemaError(
            f"{path.name}: no usable candle in {report.rows_read} row(s)"
            + (f" (dropped: {'; '.join(examples)})" if examples else "")
        )
    if len(frame):
        report.first = frame.index[0].isoformat()
        report.last = frame.index[-1].isoformat()
        span = int((frame.index[-1] - frame.index[0]) / HOUR) + 1
        report.missing_hours = span - len(frame)
    log.info("csv import %s", report.summary())
    return frame, report


def _resolve_duplicates(values: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Keep the first copy of a repeated hour (the exports list the newer, more precise row
    first); drop every copy when the copies disagree, since then neither can be trusted."""
    dup_mask = values[INDEX_NAME].duplicated(keep=False)
    if not dup_mask.any():
        return values
    keep = ~values[INDEX_NAME].duplicated(keep="first")
    for when, group in values.loc[dup_mask].groupby(INDEX_NAME):
        p = group[list(PRICE_COLUMNS)].to_numpy(dtype="float64")
        spread = np.max(np.abs(p / p[0] - 1.0))
        report.duplicates_removed += len(group) - 1
        if spread > _DUPLICATE_TOLERANCE:
            report.conflicting_duplicates += 1
            report.dropped[pd.Timestamp(when).isoformat()] = f"{len(group)} conflicting copies"
            keep[group.index] = False
    return values.loc[keep]


class CsvSource:
    """A CryptoDataDownload file as a candle source (history only: it never grows)."""

    def __init__(self, path: str | Path, name: str | None = None, config: CheckConfig | None = None) -> None:
        self.path = Path(path)
        self.name = name or f"csv:{self.path.name}"
        self._config = config
        self._frame: pd.DataFrame | None = None
        self._candles: Candles | None = None
        self.report: ImportReport | None = None

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame, self.report = read_cryptodatadownload(self.path, config=self._config)
        return self._frame

    def fetch(self, start: datetime, end: datetime) -> Candles:
        if self._candles is None:
            self._candles = Candles.of(self.frame())
        return self._candles.between(to_ns(to_utc(start)), to_ns(to_utc(end)))

    def __repr__(self) -> str:
        return f"CsvSource({self.name!r})"
