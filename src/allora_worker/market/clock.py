"""Injectable clocks: what time it is decides which candles have closed.

Live sources use `SystemClock`; tests use `FixedClock`; the offline demo replays history with
`ReplayClock`, which maps wall time onto a historical start time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, tz-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a tz-aware time")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


class ReplayClock:
    """Historical time that starts at `start` and runs `speed` times faster than the wall clock."""

    def __init__(self, start: datetime, speed: float = 1.0, wall: Clock | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ReplayClock needs a tz-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._wall = wall
        self._wall_start = wall.now() if wall is not None else None
        self._mono_start = time.monotonic()

    def now(self) -> datetime:
        if self._wall is not None and self._wall_start is not None:
            elapsed = (self._wall.now() - self._wall_start).total_seconds()
        else:
            # Monotonic: a wall-clock jump (NTP, suspend) must not rewind the replay.
            elapsed = time.monotonic() - self._mono_start
        return self._start + timedelta(seconds=elapsed * self._speed)

    def __repr__(self) -> str:
        return f"ReplayClock(start={self._start.isoformat()}, speed={self._speed})"
