"""Deterministic fault injection: errors, latency, black holes, outages, mempool faults.

The plan is a plain mutable dataclass so a test can flip a fault mid-run (`dn.faults.mempool_full =
True`); the injector reads it on every call. Random draws come from one `random.Random(seed)`, so a
run with the same seed and the same call order injects the same faults.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from grpclib.const import Status
from grpclib.exceptions import GRPCError

# Method keys match a full path ("/cosmos.tx.v1beta1.Service/BroadcastTx"), a bare method name
# ("BroadcastTx"), a service name ("cosmos.tx.v1beta1.Service") or everything ("*").
ANY = "*"


@dataclass
class FaultPlan:
    seed: int = 0
    # key -> probability in [0, 1] that a call fails with `error_status` before it is handled.
    error_rate: dict[str, float] = field(default_factory=dict)
    error_status: Status = Status.UNAVAILABLE
    # key -> seconds added before the call is handled.
    latency: dict[str, float] = field(default_factory=dict)
    # keys whose calls are accepted and never answered (the client's deadline is the only way out).
    blackhole: set[str] = field(default_factory=set)
    # Inclusive block-height ranges during which every call fails UNAVAILABLE.
    unavailable_blocks: list[tuple[int, int]] = field(default_factory=list)
    # time.monotonic() deadline until which every call fails UNAVAILABLE (see `unavailable_for`).
    unavailable_until: float | None = None
    # CheckTx answers code 20 "mempool is full" (codespace sdk) to every broadcast.
    mempool_full: bool = False
    # How many of the next txs that pass CheckTx are silently dropped (never included); -1 = all.
    drop_txs: int = 0

    def unavailable_for(self, seconds: float) -> None:
        self.unavailable_until = time.monotonic() + seconds


def _matches(keys: object, path: str) -> bool:
    service, _, method = path.lstrip("/").partition("/")
    return any(k in (ANY, path, method, service) for k in keys)  # type: ignore[attr-defined]


def _lookup(table: dict[str, float], path: str) -> float:
    service, _, method = path.lstrip("/").partition("/")
    for key in (path, method, service, ANY):
        if key in table:
            return table[key]
    return 0.0


class FaultInjector:
    """Applies the current `FaultPlan` to one incoming call."""

    def __init__(self, plan: FaultPlan, height: Callable[[], int]) -> None:
        self._height = height
        self._lock = threading.Lock()
        self._release = asyncio.Event()
        self.injected: dict[str, int] = {}
        self.plan = plan

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    async def before_call(self, path: str) -> None:
        """Sleep, hang or raise as the plan says; return normally to let the call through."""
        plan = self._plan
        # Copies: a test thread may mutate the plan's containers while this loop reads them.
        if plan.blackhole and _matches(tuple(plan.blackhole), path):
            self._count("blackhole")
            # Hang until the devnet stops: the request was read, no answer ever comes.
            await self._release.wait()
            raise GRPCError(Status.UNAVAILABLE, "devnet stopped")
        delay = _lookup(dict(plan.latency), path)
        if delay > 0:
            self._count("latency")
            await asyncio.sleep(delay)
        if self.is_unavailable():
            self._count("unavailable")
            raise GRPCError(Status.UNAVAILABLE, "devnet: node unavailable (injected outage)")
        rate = _lookup(dict(plan.error_rate), path)
        if rate > 0:
            with self._lock:
                draw = self._rng.random()
            if draw < rate:
                self._count("error")
                raise GRPCError(plan.error_status, f"devnet: injected {plan.error_status.name} on {path}")

    def is_unavailable(self) -> bool:
        plan = self._plan
        if plan.unavailable_until is not None and time.monotonic() < plan.unavailable_until:
            return True
        height = self._height()
        return any(lo <= height <= hi for lo, hi in list(plan.unavailable_blocks))

    def take_drop(self) -> bool:
        """True when this accepted tx must vanish from the mempool instead of being included."""
        with self._lock:
            plan = self._plan
            if plan.drop_txs == 0:
                return False
            if plan.drop_txs > 0:
                plan.drop_txs -= 1
            self._count("dropped_tx")
            return True

    def release_all(self) -> None:
        self._release.set()
