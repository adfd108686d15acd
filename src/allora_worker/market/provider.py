"""The one entry point the worker uses: a checked candle window, or `DataUnavailable`.

Order of trust: the primary source (through the cache); if it fails to deliver or its window
fails the checks, the secondary. With both healthy, they must also agree (a window that two
venues disagree on is not predicted from: there is no telling which is wrong). Nothing is ever
filled in or made up: no valid window means `DataUnavailable`, and the daemon skips the cycle.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from allora_worker.market.base import CandleSource
from allora_worker.market.cache import CandleCache
from allora_worker.market.checks import CheckConfig, check_agreement, check_window
from allora_worker.market.errors import DataUnavailable, SourceError
from allora_worker.market.schema import HOUR, HOUR_NS, Candles, last_closed_open_time, to_utc

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedWindow:
    candles: Candles  # the `hours` newest closed candles, checked
    source_name: str
    last_open_time: datetime
    data_hash: str  # sha256 of open times and values: ties a prediction to its exact inputs
    cross_checked_with: str | None = None  # the source it agreed with, if one was available


    @property
    def first_open_time(self) -> datetime:
        return self.candles.first

    @property
    def frame(self) -> pd.DataFrame:
        """The window as a contract DataFrame (imports pandas; the daemon reads `candles`)."""
        return self.candles.to_frame()


def data_hash(candles: Candles) -> str:
    """sha256 of the open times (int64 ns) and the values (float64, row-major): the same bytes
    the frame-based hash of earlier releases covered, so journaled hashes stay comparable."""
    digest = hashlib.sha256()
    digest.update(candles.times.tobytes())
    digest.update(candles.values.tobytes(order="C"))
    return digest.hexdigest()


@dataclass
class _Attempt:
    source: CandleSource
    window: Candles | None = None
    problems: str = ""

    @property
    def ok(self) -> bool:
        return self.window is not None


class CandleProvider:
    def __init__(
        self,
        primary: CandleSource,
        secondary: CandleSource | None = None,
        *,
        cache: CandleCache | None = None,
        config: CheckConfig | None = None,
    ) -> None:
        self.primary = primary
        self.secondary = secondary
        self.cache = cache
        self.config = config or CheckConfig()

    def get_checked_window(self, hours: int, now: datetime) -> CheckedWindow:
        """The `hours` newest closed candles at `now`, checked; else `DataUnavailable`."""
        if hours < 2:
            raise ValueError("a window needs at least 2 hours")
        now = to_utc(now)
        first = self._attempt(self.primary, hours, now)
        second = self._attempt(self.secondary, hours, now) if self.secondary is not None else None

        if first.ok and second is not None and second.ok:
            assert first.window is not None and second.window is not None
            agreement = check_agreement(
                first.window, second.window, config=self.config, names=(first.source.name, second.source.name)
            )
            if not agreement.ok:
                raise DataUnavailable(f"sources disagree at {now.isoformat()}: {agreement}")
            return self._result(first, cross=second.source.name)
        if first.ok:
            if second is not None:
                log.warning("cross-check unavailable, using %s alone: %s", first.source.name, second.problems)
            return self._result(first, cross=None)
        if second is not None and second.ok:
            log.warning(
                "primary %s unusable (%s); using secondary %s",
                first.source.name,
                first.problems,
                second.source.name,
            )
            return self._result(second, cross=None)
        reasons = [f"{a.source.name}: {a.problems}" for a in (first, second) if a is not None]
        raise DataUnavailable(
            f"no valid {hours}h candle window at {now.isoformat()} — " + " | ".join(reasons)
        )

    async def aget_checked_window(self, hours: int, now: datetime) -> CheckedWindow:
        """Same, off the event loop (sources use blocking HTTP and SQLite)."""
        return await asyncio.to_thread(self.get_checked_window, hours, now)

    def _result(self, attempt: _Attempt, cross: str | None) -> CheckedWindow:
        candles = attempt.window
        assert candles is not None
        window = CheckedWindow(candles, attempt.source.name, candles.last, data_hash(candles), cross)
        log.info(
            "candles: %d h from %s ending %s (hash %s, cross-checked with %s)",
            len(candles),
            window.source_name,
            window.last_open_time.isoformat(),
            window.data_hash[:12],
            cross or "none",
        )
        return window

    def _attempt(self, source: CandleSource, hours: int, now: datetime) -> _Attempt:
        attempt = _Attempt(source)
        last = last_closed_open_time(now)
        # Reach back by the staleness tolerance too, so a source that lags within tolerance
        # still yields a full `hours` window (ending at its own last candle).
        start = last - (hours - 1) * HOUR - self.config.max_staleness
        end = last + HOUR
        fetch_error = ""
        candles: Candles | None
        try:
            candles = self._load(source, start, end)
        except SourceError as exc:
            fetch_error = str(exc)
            candles = self.cache.read(source.name, start, end) if self.cache is not None else None
        if candles is None or not len(candles):
            attempt.problems = fetch_error or "no candles"
            log.warning("candles from %s unusable: %s", source.name, attempt.problems)
            return attempt
        window = _newest(candles, hours)
        result = check_window(window, now=now, hours=hours, config=self.config)
        if not result.ok and self.cache is not None and not fetch_error:
            # Cached rows are only refetched when missing: a bad print cached once (a spike from a
            # faulty provider) would fail every later window for as long as it stays in range.
            # Fetch the whole range again, replace what is cached, and check once more.
            refetched = self._refetch(source, start, end, str(result))
            if refetched is not None and len(refetched):
                window = _newest(refetched, hours)
                result = check_window(window, now=now, hours=hours, config=self.config)
        if not result.ok:
            attempt.problems = str(result) + (f" (fetch failed: {fetch_error})" if fetch_error else "")
            log.warning("candles from %s failed checks: %s", source.name, attempt.problems)
            return attempt
        if fetch_error:
            log.warning("%s: fetch failed (%s) but cached candles pass the checks", source.name, fetch_error)
        attempt.window = window
        return attempt

    def _refetch(self, source: CandleSource, start: datetime, end: datetime, why: str) -> Candles | None:
        assert self.cache is not None
        try:
            fresh = source.fetch(start, end)
        except SourceError as exc:
            log.warning("%s: cached candles failed checks (%s) and the refetch failed: %s", source.name, why, exc)
            return None
        replaced = self.cache.store(source.name, fresh)
        log.warning("%s: cached candles failed checks (%s); refetched and replaced %d cached hour(s)",
                    source.name, why, replaced)
        return self.cache.read(source.name, start, end)

    def _load(self, source: CandleSource, start: datetime, end: datetime) -> Candles:
        if self.cache is None:
            return Candles.of(source.fetch(start, end))
        holes = self.cache.missing(source.name, start, end)
        if holes:
            # One request from the oldest hole to the end: usually just the newest hour or two.
            lo, hi = holes[0][0], holes[-1][1]
            fetched = source.fetch(lo, hi)
            self.cache.store(source.name, fetched)
        return self.cache.read(source.name, start, end)


def _newest(candles: Candles, hours: int) -> Candles:
    """The candles of the `hours` hours ending at the last one (open time > last - hours)."""
    return candles.between(int(candles.times[-1]) - hours * HOUR_NS + 1, None)
