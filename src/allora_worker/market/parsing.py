"""Turning a provider's rows into contract candles, refusing anything suspicious.

A response with one bad row is refused whole: a provider that sends one broken candle may have
sent others that look fine, and the caller has a second source to turn to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import numpy as np

from allora_worker.candles import from_ns
from allora_worker.market.errors import ResponseError
from allora_worker.market.schema import HOUR, HOUR_NS, Candles, make_candles, to_ns, to_utc


def rows_to_candles(
    source: str,
    times_ns: np.ndarray,
    values: np.ndarray,
    *,
    order: Literal["ascending", "descending"],
) -> Candles:
    """Validate one response's rows (documented order, unique, hourly, finite, positive).

    `times_ns` are the open times as int64 nanoseconds since the epoch (UTC)."""
    times_ns = np.asarray(times_ns, dtype=np.int64)
    if len(times_ns) == 0:
        return Candles.empty()
    step = np.diff(times_ns)
    if order == "descending":
        step = -step
    if (step == 0).any():
        dup = times_ns[np.concatenate(([False], step == 0))][0]
        raise ResponseError(source, f"duplicated candle {from_ns(dup).isoformat()} in response")
    if (step < 0).any():
        raise ResponseError(source, f"rows out of order (expected {order} open times)")
    off_hour = (times_ns % HOUR_NS) != 0
    if off_hour.any():
        raise ResponseError(source, f"open time {from_ns(times_ns[off_hour][0]).isoformat()} not on the hour")
    prices = values[:, :4]
    bad = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    if bad.any():
        raise ResponseError(
            source,
            f"{int(bad.sum())} candle(s) with NaN/zero/negative price,"
            f" first {from_ns(times_ns[bad][0]).isoformat()}",
        )
    vol = values[:, 4]
    if (~np.isfinite(vol) | (vol < 0)).any():
        raise ResponseError(source, "candle(s) with NaN/negative volume")
    return make_candles(times_ns, values)


def numbers(source: str, row: Sequence[object], positions: Sequence[int]) -> list[float]:
    """Floats from the given positions of one row (providers send numbers or numeric strings).

    A JSON null becomes NaN so that the price check reports it as the bad value it is."""
    try:
        return [np.nan if row[i] is None else float(row[i]) for i in positions]  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError) as exc:
        raise ResponseError(source, f"unexpected row {str(row)[:120]!r}: {exc}") from None


def combine(source: str, chunks: list[Candles], start: datetime, end: datetime, cutoff: datetime) -> Candles:
    """Join chunks, keep `[start, end)` and only closed candles (open time <= cutoff)."""
    parts = [c for c in chunks if len(c)]
    if not parts:
        return Candles.empty()
    times = np.concatenate([c.times for c in parts])
    order = np.argsort(times, kind="stable")
    times = times[order]
    if bool(np.any(np.diff(times) == 0)):
        raise ResponseError(source, "the same candle came back in two requests")
    joined = Candles(times, np.concatenate([c.values for c in parts])[order])
    return joined.between(to_ns(to_utc(start)), min(to_ns(to_utc(end)), to_ns(to_utc(cutoff)) + 1))


def hour_chunks(start: datetime, end: datetime, hours: int) -> list[tuple[datetime, datetime]]:
    """`[start, end)` cut into half-open pieces of at most `hours` hours."""
    out = []
    lo = to_utc(start)
    end = to_utc(end)
    while lo < end:
        hi = min(lo + hours * HOUR, end)
        out.append((lo, hi))
        lo = hi
    return out
