"""A topic's timing in the unit the chain counts it, and the chain's block time from its own headers.

Released chains count a topic's `epoch_length` and `worker_submission_window` in blocks. allora-chain's
development branch moves topics onto scheduler-driven epochs: its store migration
(x/emissions/keeper/epoch_migrate.go, MigrateToSchedulerEpochs) rewrites the same fields in seconds,
a new epoch starts every `epoch_length` seconds of block time (keeper/epoch.go StartNewEpoch) with the
block height it started at as its nonce, and a payload is accepted while the block time is inside
[open_at, open_at + worker_submission_window s] (CheckWorkerSubmissionWindow). The field names do not
change and no query says which unit a topic uses, so the unit is inferred from the nonces the chain
opens and the chain's block time: in blocks they are `epoch_length` blocks apart (or a multiple,
when windows were not seen); in seconds, `epoch_length / seconds_per_block` blocks apart.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Unit = Literal["blocks", "seconds"]


def infer_unit(epoch_length: int, nonces: list[int], seconds_per_block: float | None) -> Unit | None:
    """The unit the topic's epoch is counted in, from nonces the chain opened (None: cannot tell yet).

    Consecutive nonces seen are k >= 1 epochs apart (windows between them may have gone unseen):
    in blocks every gap is exactly k * epoch_length blocks; in seconds, gap * seconds_per_block is
    about k * epoch_length. A reading that fits every gap while the other does not decides. When
    both fit, the reading with fewer unseen windows wins; blocks (the released chains' unit) at
    once, seconds only over two gaps or more: one gap cannot tell a 4-epoch pause in blocks from
    one epoch in seconds on a 0.25 s chain."""
    if epoch_length <= 0:
        return None
    seen = sorted(set(nonces))
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    if not gaps:
        return None
    in_blocks = [g // epoch_length if g % epoch_length == 0 else None for g in gaps]
    in_seconds: list[int | None] = [None] * len(gaps)
    if seconds_per_block:
        for n, g in enumerate(gaps):
            k = g * seconds_per_block / epoch_length
            if round(k) >= 1 and abs(k - round(k)) <= 0.25:
                in_seconds[n] = round(k)
    fits_blocks = all(k is not None for k in in_blocks)
    fits_seconds = all(k is not None for k in in_seconds)
    if fits_blocks and fits_seconds:
        fewer_in_blocks = sum(k or 0 for k in in_blocks) <= sum(k or 0 for k in in_seconds)
        if fewer_in_blocks:
            return "blocks"  # also the released chains' unit
        return "seconds" if len(gaps) >= 2 else None
    if fits_blocks:
        return "blocks"
    if fits_seconds or seconds_per_block is None:
        return "seconds"  # gaps that are no multiple of epoch_length: never blocks
    return None


@dataclass(frozen=True)
class TopicTiming:
    unit: Unit
    epoch_length: int
    window: int
    # False until two nonces showed the unit: `unit` is then the released chains' blocks, a guess
    # that nothing irreversible may rest on (no timeout height, no windows inferred missed).
    known: bool = True

    def window_blocks(self, seconds_per_block: float | None) -> int | None:
        """The window's length in blocks (None: a window counted in seconds before the block time is known)."""
        if self.window <= 0:
            return None
        if self.unit == "blocks":
            return self.window
        if not seconds_per_block:
            return None
        return max(1, math.ceil(self.window / seconds_per_block))

    def window_seconds(self, seconds_per_block: float | None) -> float | None:
        if self.window <= 0:
            return None
        if self.unit == "seconds":
            return float(self.window)
        return self.window * seconds_per_block if seconds_per_block else None

    def epoch_seconds(self, seconds_per_block: float | None) -> float | None:
        if self.epoch_length <= 0:
            return None
        if self.unit == "seconds":
            return float(self.epoch_length)
        return self.epoch_length * seconds_per_block if seconds_per_block else None

    @property
    def epoch_grid_blocks(self) -> int | None:
        """The fixed distance in blocks between nonces, where there is one (blocks only: epochs
        started by time fall on no height grid, since block times vary), once the unit is known."""
        if not self.known or self.unit != "blocks" or self.epoch_length <= 0:
            return None
        return self.epoch_length

    def end_height(self, nonce: int, seconds_per_block: float | None) -> int:
        """The last height a payload for `nonce` can be in (a tx's timeout height), 0 when unknown
        (a window in seconds before the block time is measured, or a unit not yet known: a wrong
        timeout height would refuse a tx inside its own window).

        In seconds the window closes by time: the estimate adds one block for a block time that
        wanders, so a tx is never refused by its own timeout inside the window."""
        blocks = self.window_blocks(seconds_per_block)
        if not nonce or blocks is None or not self.known:
            return 0
        return nonce + blocks + (1 if self.unit == "seconds" else 0)

    def words(self) -> str:
        return f"epoch {self.epoch_length} {self.unit}, window {self.window} {self.unit}"


class BlockClock:
    """Seconds per block from the chain's block headers (their time and height), not a constant."""

    def __init__(self) -> None:
        self._first: tuple[int, datetime] | None = None
        self._last: tuple[int, datetime] | None = None

    def observe(self, height: int, time: datetime | None) -> None:
        if time is None or height <= 0:
            return
        if self._first is None or height < self._first[0]:
            self._first = (height, time)
        if self._last is None or height > self._last[0]:
            self._last = (height, time)

    @property
    def seconds_per_block(self) -> float | None:
        if self._first is None or self._last is None:
            return None
        blocks = self._last[0] - self._first[0]
        if blocks < 3:
            return None
        seconds = (self._last[1] - self._first[1]).total_seconds()
        return seconds / blocks if seconds > 0 else None
