"""Named fault profiles for the soak, deterministic from a seed.

A profile is a constant part (per-call error rate and latency, applied to every gRPC call) and a
schedule of episodes, each pinned to devnet block heights relative to the soak's windows:

    outage        every call fails UNAVAILABLE          (`FaultPlan.unavailable_blocks`)
    mempool_full  CheckTx answers code 20 to every tx   (`FaultPlan.mempool_full`)
    blackhole     one query method never answers        (`FaultPlan.blackhole`)
    drop          the next n txs pass CheckTx, never land (`FaultPlan.drop_txs`)
    bump          an outside tx moves each wallet's sequence (`Devnet.bump_sequence`)

The same (profile, seed, epoch, window, windows) always gives the same episodes at the same heights.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rates:
    """Per-window probabilities of each episode kind, and their lengths (in windows' blocks)."""

    error_rate: float = 0.0  # per gRPC call, any method
    latency_s: float = 0.0  # added to every call
    broadcast_latency_s: float = 0.0
    outage_short: float = 0.0  # shorter than half a window
    outage_long: float = 0.0  # longer than a whole window
    mempool_full: float = 0.0
    blackhole: float = 0.0
    drop: float = 0.0
    bump: float = 0.0


PROFILES: dict[str, Rates] = {
    "none": Rates(),
    "mild": Rates(error_rate=0.02, latency_s=0.005, outage_short=0.03, mempool_full=0.02, drop=0.03, bump=0.05),
    "harsh": Rates(error_rate=0.08, latency_s=0.01, broadcast_latency_s=0.05, outage_short=0.08, outage_long=0.015,
                   mempool_full=0.05, blackhole=0.01, drop=0.08, bump=0.10),
}

BLACKHOLE_METHOD = "GetUnfulfilledWorkerNonces"


@dataclass(frozen=True)
class Episode:
    kind: str
    start: int  # first affected height
    end: int  # last affected height (inclusive); == start for instant episodes (drop, bump)
    count: int = 1


@dataclass
class Schedule:
    profile: str
    seed: int
    rates: Rates
    episodes: list[Episode] = field(default_factory=list)

    def bad_blocks(self) -> set[int]:
        """Heights at which no submission can get through (outage, full mempool, black hole)."""
        bad: set[int] = set()
        for e in self.episodes:
            if e.kind in ("outage", "mempool_full", "blackhole"):
                bad.update(range(e.start, e.end + 1))
        return bad

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for e in self.episodes:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        return {"profile": self.profile, "seed": self.seed, "rates": asdict(self.rates), "episodes": kinds}


def build_schedule(profile: str, seed: int, *, first_nonce: int, epoch: int, window: int, windows: int) -> Schedule:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
    rates = PROFILES[profile]
    rng = random.Random(f"{profile}/{seed}/{epoch}/{window}")
    schedule = Schedule(profile, seed, rates)
    skip_until = -1
    for k in range(windows):
        n = first_nonce + k * epoch
        if n <= skip_until:
            continue
        if rng.random() < rates.outage_long:
            length = rng.randint(window + 1, 2 * epoch)
            start = n + rng.randint(0, window // 2)
            schedule.episodes.append(Episode("outage", start, start + length - 1))
            skip_until = start + length
            continue
        if rng.random() < rates.outage_short:
            length = rng.randint(1, max(1, window // 2))
            start = n + rng.randint(0, window - length)
            schedule.episodes.append(Episode("outage", start, start + length - 1))
        if rng.random() < rates.mempool_full:
            length = rng.randint(1, max(1, window // 3))
            start = n + rng.randint(0, window // 2)
            schedule.episodes.append(Episode("mempool_full", start, start + length - 1))
        if rng.random() < rates.blackhole:
            length = rng.randint(1, max(1, window // 3))
            start = n + rng.randint(0, window // 2)
            schedule.episodes.append(Episode("blackhole", start, start + length - 1))
        if rng.random() < rates.drop:
            at = n + rng.randint(0, window // 3)
            schedule.episodes.append(Episode("drop", at, at, count=rng.randint(1, 2)))
        if rng.random() < rates.bump:
            at = n + rng.randint(0, window // 2)
            schedule.episodes.append(Episode("bump", at, at))
    schedule.episodes.sort(key=lambda e: e.start)
    return schedule
