"""Checks a candle window must pass before anything predicts from it.

Every check runs (no early exit), so a failure report names everything that is wrong at once.
`check_window` covers one source; `check_agreement` compares two sources on their overlap.
Thresholds are measured on the bundled real data (2017-2021, including the March 2020 crash:
largest honest hourly high/low range ln 0.33, largest open-vs-previous-close jump ln 0.10)
and set well above it, so that they catch broken prints, not volatile markets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from allora_worker.market.errors import MarketError
from allora_worker.market.schema import (
    COLUMNS,
    HOUR,
    HOUR_NS,
    INDEX_NAME,
    PRICE_COLUMNS,
    epoch_ns,
    last_closed_open_time,
)


@dataclass(frozen=True)
class CheckConfig:
    """Tolerances. Defaults suit an hourly topic such as 67 (168 h log-return, hourly epochs)."""

    # How far the newest candle may lag the newest closed hour (providers publish a little late).
    max_staleness: timedelta = timedelta(hours=1)
    # Largest spacing between consecutive candles; 1 h means no missing hour at all.
    max_gap: timedelta = timedelta(hours=1)
    # ln(high/low) of one candle above this is a broken print (the Binance file's first row: 1.33).
    max_range_log: float = 0.5
    # |ln(open / previous close)|, and an isolated close that jumps out and back, beyond this.
    max_jump_log: float = 0.25
    # Median |close_a / close_b - 1| over the overlap (USDT vs USD and two venues differ a bit;
    # measured on the 2017-2019 overlap: median 0.3%, worst 30-day median 2.1%).
    max_source_diff: float = 0.03
    # The two sources must share at least this fraction of the window to be compared at all.
    min_overlap: float = 0.5


@dataclass(frozen=True)
class CheckFailure:
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass(frozen=True)
class CheckResult:
    failures: tuple[CheckFailure, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        return "ok" if self.ok else "; ".join(str(f) for f in self.failures)

    def raise_if_failed(self, label: str) -> None:
        if not self.ok:
            raise CheckFailed(label, self.failures)


class CheckFailed(MarketError):
    """A window failed one or more checks; `failures` lists each one."""

    def __init__(self, label: str, failures: tuple[CheckFailure, ...]) -> None:
        self.label = label
        self.failures = failures
        super().__init__(f"{label}: " + "; ".join(str(f) for f in failures))


def find_spikes(frame: pd.DataFrame, max_range_log: float, max_jump_log: float) -> dict[pd.Timestamp, str]:
    """Candles that look like broken prints, with the reason. Non-positive prices are skipped
    here (the finite/positive check reports them)."""
    if frame.empty:
        return {}
    o, h, low, c = (frame[col].to_numpy(dtype="float64") for col in PRICE_COLUMNS)
    with np.errstate(divide="ignore", invalid="ignore"):
        rng = np.log(h / low)
        prev_close = np.concatenate(([np.nan], c[:-1]))
        contiguous = np.concatenate(([False], np.diff(epoch_ns(frame.index)) == HOUR_NS))
        jump = np.where(contiguous, np.abs(np.log(o / prev_close)), np.nan)
        ret = np.where(contiguous, np.log(c / prev_close), np.nan)
        next_ret = np.concatenate((ret[1:], [np.nan]))
        isolated = (np.abs(ret) > max_jump_log) & (np.abs(next_ret) > max_jump_log) & (ret * next_ret < 0)
    out: dict[pd.Timestamp, str] = {}
    for i in np.flatnonzero(rng > max_range_log):
        out[frame.index[i]] = f"high/low range ln {rng[i]:.2f} > {max_range_log}"
    for i in np.flatnonzero(jump > max_jump_log):
        out.setdefault(frame.index[i], f"open jumps ln {jump[i]:.2f} from previous close")
    for i in np.flatnonzero(isolated):
        out.setdefault(frame.index[i], f"isolated close spike ln {ret[i]:+.2f} then {next_ret[i]:+.2f}")
    return out


def _first(items: pd.Index | list[object], n: int = 3) -> str:
    shown = [t.isoformat() if hasattr(t, "isoformat") else str(t) for t in list(items)[:n]]
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(shown) + more


def check_window(
    frame: pd.DataFrame, *, now: datetime, hours: int, config: CheckConfig | None = None
) -> CheckResult:
    """Check a window meant to hold the `hours` newest closed candles at `now`."""
    cfg = config or CheckConfig()
    failures: list[CheckFailure] = []
    if frame.empty:
        return CheckResult((CheckFailure("empty", "no candles"),))
    if list(frame.columns) != list(COLUMNS) or frame.index.name != INDEX_NAME or frame.index.tz is None:
        failures.append(CheckFailure("schema", "frame does not follow the candle contract"))
    idx = frame.index
    if not idx.is_monotonic_increasing or idx.has_duplicates:
        failures.append(CheckFailure("order", "open times not strictly increasing (duplicates or unsorted)"))

    expected_last = pd.Timestamp(last_closed_open_time(now))
    last = idx.max()
    if last > expected_last:
        failures.append(
            CheckFailure("unclosed", f"candle {last.isoformat()} has not closed at {now.isoformat()}")
        )
    lag = expected_last - last
    if lag > cfg.max_staleness:
        failures.append(
            CheckFailure(
                "stale", f"last candle {last.isoformat()} is {lag} behind {expected_last.isoformat()}"
            )
        )

    # Gaps: inside the window, and before the first candle (a short window is a gap too).
    window_start = last - (hours - 1) * HOUR
    spacing = np.diff(
        np.concatenate(([pd.Timestamp(window_start).as_unit("ns").value - HOUR_NS], epoch_ns(idx)))
    )
    too_wide = spacing > cfg.max_gap // pd.Timedelta(1, "ns")
    if too_wide.any():
        worst = pd.Timedelta(int(spacing.max()), "ns") - HOUR
        failures.append(
            CheckFailure(
                "gap",
                f"{int(too_wide.sum())} gap(s) beyond {cfg.max_gap}, largest {worst} missing, "
                f"before {_first(idx[too_wide])}",
            )
        )

    values = frame[list(PRICE_COLUMNS)].to_numpy(dtype="float64")
    bad_price = ~np.isfinite(values) | (values <= 0)
    if bad_price.any():
        rows = idx[bad_price.any(axis=1)]
        failures.append(
            CheckFailure("prices", f"{len(rows)} candle(s) with NaN/inf/zero/negative price: {_first(rows)}")
        )
    vol = frame["volume"].to_numpy(dtype="float64")
    bad_vol = ~np.isfinite(vol) | (vol < 0)
    if bad_vol.any():
        failures.append(CheckFailure("volume", f"{int(bad_vol.sum())} candle(s) with NaN/negative volume"))

    o, h, low, c = values.T
    with np.errstate(invalid="ignore"):
        inconsistent = (h < np.maximum(o, c)) | (low > np.minimum(o, c)) | (low > h)
    if inconsistent.any():
        failures.append(
            CheckFailure("ohlc", f"high/low do not bracket open/close at {_first(idx[inconsistent])}")
        )

    spikes = find_spikes(frame, cfg.max_range_log, cfg.max_jump_log)
    if spikes:
        first_t, why = next(iter(sorted(spikes.items())))
        failures.append(
            CheckFailure("spike", f"{len(spikes)} suspicious candle(s), first {first_t.isoformat()}: {why}")
        )
    return CheckResult(tuple(failures))


def check_agreement(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    config: CheckConfig | None = None,
    names: tuple[str, str] = ("a", "b"),
) -> CheckResult:
    """Two sources agree: enough shared hours, and the median relative close difference is small.

    The median (not the max) because venues really do diverge for an hour or two in a panic;
    a broken feed or a wrong symbol moves the whole window.
    """
    cfg = config or CheckConfig()
    shared = a.index.intersection(b.index)
    need = cfg.min_overlap * max(len(a), len(b))
    if len(shared) == 0 or len(shared) < need:
        return CheckResult(
            (
                CheckFailure(
                    "overlap", f"{names[0]} and {names[1]} share {len(shared)} candles, need {need:.0f}"
                ),
            )
        )
    ca = a["close"].reindex(shared).to_numpy()
    cb = b["close"].reindex(shared).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(ca / cb - 1.0)
    median = float(np.median(diff))
    if not np.isfinite(median) or median > cfg.max_source_diff:
        return CheckResult(
            (
                CheckFailure(
                    "agreement",
                    f"{names[0]} vs {names[1]}: median close difference {median:.2%}"
                    f" > {cfg.max_source_diff:.2%}",
                ),
            )
        )
    return CheckResult()
