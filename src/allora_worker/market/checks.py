"""Checks a candle window must pass before anything predicts from it.

Every check runs (no early exit), so a failure report names everything that is wrong at once.
`check_window` covers one source; `check_agreement` compares two sources on their overlap.
Thresholds are measured on the bundled real data (2017-2021, including the March 2020 crash:
largest honest hourly high/low range ln 0.33, largest open-vs-previous-close jump ln 0.10)
and set well above it, so that they catch broken prints, not volatile markets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from allora_worker.candles import from_ns
from allora_worker.market.errors import MarketError
from allora_worker.market.schema import (
    COLUMNS,
    HOUR,
    HOUR_NS,
    INDEX_NAME,
    Candles,
    last_closed_open_time,
    to_ns,
)

if TYPE_CHECKING:
    import pandas as pd


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


def find_spikes(
    candles: Candles | pd.DataFrame, max_range_log: float, max_jump_log: float
) -> dict[datetime, str]:
    """Candles that look like broken prints (by open time, UTC), with the reason. Non-positive
    prices are skipped here (the finite/positive check reports them)."""
    candles = Candles.of(candles)
    if not len(candles):
        return {}
    o, h, low, c = candles.values[:, :4].T
    with np.errstate(divide="ignore", invalid="ignore"):
        rng = np.log(h / low)
        prev_close = np.concatenate(([np.nan], c[:-1]))
        contiguous = np.concatenate(([False], np.diff(candles.times) == HOUR_NS))
        jump = np.where(contiguous, np.abs(np.log(o / prev_close)), np.nan)
        ret = np.where(contiguous, np.log(c / prev_close), np.nan)
        next_ret = np.concatenate((ret[1:], [np.nan]))
        isolated = (np.abs(ret) > max_jump_log) & (np.abs(next_ret) > max_jump_log) & (ret * next_ret < 0)
    out: dict[datetime, str] = {}
    for i in np.flatnonzero(rng > max_range_log):
        out[from_ns(candles.times[i])] = f"high/low range ln {rng[i]:.2f} > {max_range_log}"
    for i in np.flatnonzero(jump > max_jump_log):
        out.setdefault(from_ns(candles.times[i]), f"open jumps ln {jump[i]:.2f} from previous close")
    for i in np.flatnonzero(isolated):
        out.setdefault(from_ns(candles.times[i]), f"isolated close spike ln {ret[i]:+.2f} then {next_ret[i]:+.2f}")
    return out


def _first(times_ns: np.ndarray | Sequence[int], n: int = 3) -> str:
    shown = [from_ns(t).isoformat() for t in list(times_ns)[:n]]
    more = f" (+{len(times_ns) - n} more)" if len(times_ns) > n else ""
    return ", ".join(shown) + more


def _off_contract(frame: pd.DataFrame) -> bool:
    """A DataFrame that is not in the contract's frame form (columns, index name, UTC index)."""
    return list(frame.columns) != list(COLUMNS) or frame.index.name != INDEX_NAME or frame.index.tz is None


def check_window(
    candles: Candles | pd.DataFrame, *, now: datetime, hours: int, config: CheckConfig | None = None
) -> CheckResult:
    """Check a window meant to hold the `hours` newest closed candles at `now` (numpy or a frame)."""
    cfg = config or CheckConfig()
    failures: list[CheckFailure] = []
    if not len(candles):
        return CheckResult((CheckFailure("empty", "no candles"),))
    if not isinstance(candles, Candles):
        if _off_contract(candles):
            failures.append(CheckFailure("schema", "frame does not follow the candle contract"))
        try:
            candles = Candles.of(candles)
        except ValueError as exc:
            failures.append(CheckFailure("schema", str(exc)))
            return CheckResult(tuple(failures))
    times = candles.times
    step = np.diff(times)
    if bool(np.any(step <= 0)):
        failures.append(CheckFailure("order", "open times not strictly increasing (duplicates or unsorted)"))

    expected_last = to_ns(last_closed_open_time(now))
    last_ns = int(times.max())
    last = from_ns(last_ns)
    if last_ns > expected_last:
        failures.append(
            CheckFailure("unclosed", f"candle {last.isoformat()} has not closed at {now.isoformat()}")
        )
    lag = from_ns(expected_last) - last
    if lag > cfg.max_staleness:
        failures.append(
            CheckFailure(
                "stale", f"last candle {last.isoformat()} is {lag} behind {from_ns(expected_last).isoformat()}"
            )
        )

    # Gaps: inside the window, and before the first candle (a short window is a gap too).
    window_start = last_ns - (hours - 1) * HOUR_NS
    spacing = np.diff(np.concatenate(([window_start - HOUR_NS], times)))
    too_wide = spacing > cfg.max_gap // timedelta(microseconds=1) * 1_000
    if too_wide.any():
        worst = timedelta(microseconds=int(spacing.max()) // 1_000) - HOUR
        failures.append(
            CheckFailure(
                "gap",
                f"{int(too_wide.sum())} gap(s) beyond {cfg.max_gap}, largest {worst} missing, "
                f"before {_first(times[too_wide])}",
            )
        )

    values = candles.values[:, :4]
    bad_price = ~np.isfinite(values) | (values <= 0)
    if bad_price.any():
        rows = times[bad_price.any(axis=1)]
        failures.append(
            CheckFailure("prices", f"{len(rows)} candle(s) with NaN/inf/zero/negative price: {_first(rows)}")
        )
    vol = candles.values[:, 4]
    bad_vol = ~np.isfinite(vol) | (vol < 0)
    if bad_vol.any():
        failures.append(CheckFailure("volume", f"{int(bad_vol.sum())} candle(s) with NaN/negative volume"))

    o, h, low, c = values.T
    with np.errstate(invalid="ignore"):
        inconsistent = (h < np.maximum(o, c)) | (low > np.minimum(o, c)) | (low > h)
    if inconsistent.any():
        failures.append(
            CheckFailure("ohlc", f"high/low do not bracket open/close at {_first(times[inconsistent])}")
        )

    spikes = find_spikes(candles, cfg.max_range_log, cfg.max_jump_log)
    if spikes:
        first_t, why = next(iter(sorted(spikes.items())))
        failures.append(
            CheckFailure("spike", f"{len(spikes)} suspicious candle(s), first {first_t.isoformat()}: {why}")
        )
    return CheckResult(tuple(failures))


def check_agreement(
    a: Candles | pd.DataFrame,
    b: Candles | pd.DataFrame,
    *,
    config: CheckConfig | None = None,
    names: tuple[str, str] = ("a", "b"),
) -> CheckResult:
    """Two sources agree: enough shared hours, and the median relative close difference is small.

    The median (not the max) because venues really do diverge for an hour or two in a panic;
    a broken feed or a wrong symbol moves the whole window.
    """
    cfg = config or CheckConfig()
    a, b = Candles.of(a), Candles.of(b)
    _, in_a, in_b = np.intersect1d(a.times, b.times, assume_unique=True, return_indices=True)
    shared = len(in_a)
    need = cfg.min_overlap * max(len(a), len(b))
    if shared == 0 or shared < need:
        return CheckResult(
            (
                CheckFailure(
                    "overlap", f"{names[0]} and {names[1]} share {shared} candles, need {need:.0f}"
                ),
            )
        )
    ca = a.close[in_a]
    cb = b.close[in_b]
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
