"""Turning a provider's rows into a contract frame, refusing anything suspicious.

A response with one bad row is refused whole: a provider that sends one broken candle may have
sent others that look fine, and the caller has a second source to turn to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from allora_worker.market.errors import ResponseError
from allora_worker.market.schema import HOUR, HOUR_NS, empty_frame, epoch_ns, make_frame, to_utc


def rows_to_frame(
    source: str,
    open_times: pd.DatetimeIndex,
    values: np.ndarray,
    *,
    order: Literal["ascending", "descending"],
) -> pd.DataFrame:
    """Validate one response's rows (documented order, unique, hourly, finite, positive)."""
    if len(open_times) == 0:
        return empty_frame()
    times_ns = epoch_ns(open_times)
    step = np.diff(times_ns)
    if order == "descending":
        step = -step
    if (step == 0).any():
        dup = open_times[np.concatenate(([False], step == 0))][0]
        raise ResponseError(source, f"duplicated candle {dup.isoformat()} in response")
    if (step < 0).any():
        raise ResponseError(source, f"rows out of order (expected {order} open times)")
    off_hour = (times_ns % HOUR_NS) != 0
    if off_hour.any():
        raise ResponseError(source, f"open time {open_times[off_hour][0].isoformat()} not on the hour")
    prices = values[:, :4]
    bad = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    if bad.any():
        raise ResponseError(
            source,
            f"{int(bad.sum())} candle(s) with NaN/zero/negative price,"
            f" first {open_times[bad][0].isoformat()}",
        )
    vol = values[:, 4]
    if (~np.isfinite(vol) | (vol < 0)).any():
        raise ResponseError(source, "candle(s) with NaN/negative volume")
    return make_frame(open_times, values)


def numbers(source: str, row: Sequence[object], positions: Sequence[int]) -> list[float]:
    """Floats from the given positions of one row (providers send numbers or numeric strings).

    A JSON null becomes NaN so that the price check reports it as the bad value it is."""
    try:
        return [np.nan if row[i] is None else float(row[i]) for i in positions]  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError) as exc:
        raise ResponseError(source, f"unexpected row {str(row)[:120]!r}: {exc}") from None


def combine(
    source: str, chunks: list[pd.DataFrame], start: datetime, end: datetime, cutoff: datetime
) -> pd.DataFrame:
    """Join chunk frames, keep `[start, end)` and only closed candles (open time <= cutoff)."""
    frames = [c for c in chunks if len(c)]
    if not frames:
        return empty_frame()
    frame = pd.concat(frames)
    if frame.index.has_duplicates:
        raise ResponseError(source, "the same candle came back in two requests")
    frame = frame.sort_index()
    lo, hi, last = (pd.Timestamp(to_utc(t)) for t in (start, end, cutoff))
    return frame.loc[(frame.index >= lo) & (frame.index < hi) & (frame.index <= last)]


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
