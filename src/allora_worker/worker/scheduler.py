"""One loop per topic, driven by the chain: poll the open worker nonces and submit to each.

Nonce mode polls often enough for the topic's window (a quarter of the window's duration, from
the block time it measures) and tries every open nonce, newest first, until the journal says it
is done or the window closes. Interval mode keeps the original daemon's shape: every
`interval_seconds`, one try at the newest open nonce. A nonce seen open that closes without an
accepted submission is journaled `missed` and counted against the topic's health.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from allora_worker.chain import errors as chain_errors
from allora_worker.chain.client import Cadence, ChainClient
from allora_worker.journal import CONFIRMED, FencedOut, Journal, JournalUnavailable
from allora_worker.logging_setup import get_logger
from allora_worker.secrets import describe
from allora_worker.worker.cycle import SKIP_OUTCOMES, CycleCounter, CycleResult, confirmed_outcome, run_cycle
from allora_worker.worker.health import HealthState
from allora_worker.worker.heartbeat import RunCounters
from allora_worker.worker.memory import release_free_memory
from allora_worker.worker.metrics import WorkerMetrics
from allora_worker.worker.reconcile import reconcile
from allora_worker.worker.topic import TopicRuntime
from allora_worker.worker.wallet_guard import WalletInUse

log = get_logger("worker.scheduler")

MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 30.0
# A rejected nonce is retried after this many polls at most (doubling), so a persistent chain
# error does not turn into a tight loop of txs.
MAX_RETRY_BACKOFF_POLLS = 8


class BlockTimer:
    """Estimates seconds per block from the heights the loop observes."""

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None
        self._last: tuple[float, int] | None = None

    def observe(self, height: int) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = (now, height)
        self._last = (now, height)

    @property
    def last_height(self) -> int | None:
        return self._last[1] if self._last is not None else None

    def seconds_until(self, height: int) -> float | None:
        """Estimated seconds until the chain reaches `height` (negative once past), or None."""
        spb = self.seconds_per_block
        if spb is None or self._last is None:
            return None
        seen_at, seen_height = self._last
        return (height - seen_height) * spb - (time.monotonic() - seen_at)

    @property
    def seconds_per_block(self) -> float | None:
        if self._first is None or self._last is None:
            return None
        blocks = self._last[1] - self._first[1]
        if blocks < 3:
            return None
        return (self._last[0] - self._first[0]) / blocks


def confirm_cadence(seconds_per_block: float) -> tuple[float, float]:
    """(re-send period, GetTx period) while confirming, from the measured block time: both once a block.

    Re-send once a block: a tx not in the block after its broadcast was most likely dropped, and
    every block spent waiting is a block less of the window (a soak run lost a window to two
    drops in a row at two blocks per re-send). A re-send of a tx still in the mempool costs one
    'already in cache' answer. Look for inclusion once a block too (the first look a block after
    the send, ChainClient.confirm): a tx can only appear when a block is committed, so a second
    look in the same block finds what the first found. Looking twice a block made ~2.5 GetTx a
    window (one in three of them right after the send, before any block could hold the tx); the
    cost of once a block is up to a block later a confirmation, on every chain alike.
    """
    spb = max(MIN_POLL_SECONDS, seconds_per_block)
    return spb, spb


_BETWEEN_POLLS = "the window opened and closed between two polls"

# "no unfulfilled nonce" is normal between windows: said once when the last window leaves the
# list, then at most this often, so the log shows the worker waiting without filling up.
NO_NONCE_LOG_EVERY_S = 600.0


@dataclass
class _NonceTrack:
    first_seen: float
    attempts: int = 0
    next_try_poll: int = 0
    last_detail: str = ""
    skips: int = 0  # attempts skipped for want of a prediction (model, predictor or candles)


@dataclass
class _Blind:
    """A stretch during which this topic could not read the chain: one WARNING at its start,
    one line at its end, and the cause every window missed meanwhile is journaled with."""

    since_wall: datetime
    since: float
    cause: str
    polls: int = 1


@dataclass
class Shared:
    """What every topic loop of one process shares."""

    client: ChainClient
    journal: Journal
    metrics: WorkerMetrics
    health: HealthState
    counters: RunCounters
    cycles: CycleCounter
    stop: asyncio.Event
    dry_run: bool = False
    on_result: Callable[[CycleResult], None] | None = None
    # Set (with `stop`) when a poll finds another chain behind the endpoint: the service decides.
    chain_changed: ChainChanged | None = None
    # Called after every loop iteration (the heartbeat file); must not raise.
    on_iteration: Callable[[], None] | None = None
    # Called before every poll: raises DiskLow when the journal's disk is below its reserve.
    space_check: Callable[[], None] | None = None


class ChainChanged(Exception):
    """The chain is not the one this journal was written for: its id changed, or it was reset."""

    def __init__(self, message: str, *, reset: bool) -> None:
        super().__init__(message)
        self.reset = reset


class TopicLoop:
    def __init__(self, runtime: TopicRuntime, shared: Shared, *, until: datetime | None = None,
                 schedule: str = "nonce") -> None:
        self.runtime = runtime
        self.shared = shared
        self.until = until
        self.schedule = schedule
        self.blocks = BlockTimer()
        self.tracked: dict[int, _NonceTrack] = {}
        self.polls = 0
        self._topic_read = False
        self.ended_reason: str | None = None
        self.auto_rebroadcast = True
        self.not_before: int | None = None
        # The highest nonce (block height) known for this topic: the chain was at least that high.
        # Read from the journal at the first poll.
        self.highest_nonce: int | None = None
        self._highest_loaded = False
        # Windows that closed at heights up to here are settled (accepted, or journaled missed).
        self.scanned_to: int | None = None
        self.epoch_last_ended: int | None = None
        self.last_answer: float | None = None  # monotonic time of the last poll the chain answered
        self.blind: _Blind | None = None
        self._no_nonce_logged: float | None = None
        self._journal_down = False
        self._unseen_cause: str | None = None  # held while the topic's timing unit is not known
        # True after a poll that found every open nonce settled in the journal: nothing to do
        # until the next window opens (see next_sleep).
        self._all_done = False
        self._awaited: tuple[int, int] | None = None  # (expected opening height, highest nonce then)
        # True when the next poll wakes before the awaited window is expected to open (next_sleep):
        # it asks for the open nonces only, and for the height only when they show something new.
        self._early_look = False

    @property
    def topic_id(self) -> int:
        return self.runtime.topic_id

    @property
    def window_blocks(self) -> int | None:
        """The window in blocks, from the topic's timing in its own unit (chain/timing.py)."""
        timing = self.shared.client.timing(self.topic_id)
        return timing.window_blocks(self.blocks.seconds_per_block) if timing is not None else None

    @property
    def epoch_blocks(self) -> int | None:
        """The fixed block distance between this topic's nonces; None for epochs started by time."""
        timing = self.shared.client.timing(self.topic_id)
        return timing.epoch_grid_blocks if timing is not None else None

    def poll_seconds(self) -> float:
        configured = self.runtime.settings.poll_seconds
        if configured is not None:
            return configured
        if self.schedule == "interval":
            return self.runtime.settings.interval_seconds
        spb = self.blocks.seconds_per_block
        if spb is None or not self.window_blocks:
            return 0.5 if spb is None else min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, spb))
        return min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, spb * self.window_blocks / 4))

    def next_sleep(self) -> float:
        """Seconds until the next poll: the poll cadence, or, when the last poll left nothing to do,
        until the next window is expected to open.

        Each poll costs two gRPC requests (GetLatestBlock, GetUnfulfilledWorkerNonces), and once
        every open nonce is settled a poll can only find that nothing changed, until the next
        nonce on the topic's epoch grid opens. So the loop sleeps until half a block after that
        height, then polls at the normal cadence until it opens (a late or early nonce, or a block
        time that changed, costs at most one normal interval). The wait is never longer than
        MAX_POLL_SECONDS nor 0.75 of a window: no window can open and close unseen while it sleeps,
        and /healthz, which turns red when no endpoint answered for a window, stays green. Topics
        without a grid (epochs started by time), the interval schedule and a configured
        `poll_seconds` keep the plain cadence.
        """
        normal = self.poll_seconds()
        idle = self._seconds_to_next_window()
        sleep = normal if idle is None or idle <= normal else idle
        # A look capped short of the awaited opening (MAX_POLL_SECONDS, 0.75 of a window) is there
        # to catch a window that opens early; poll_once then reads only the open nonces.
        until = self.blocks.seconds_until(self._awaited[0]) if idle is not None and self._awaited else None
        self._early_look = until is not None and until > sleep
        return sleep

    def _seconds_to_next_window(self) -> float | None:
        if not self._all_done or self.schedule != "nonce" or self.runtime.settings.poll_seconds is not None:
            return None
        step, spb, window_s = self.epoch_blocks, self.blocks.seconds_per_block, self._window_seconds()
        anchor = self.highest_nonce if self.highest_nonce is not None else self.epoch_last_ended
        height = self.blocks.last_height
        if not step or not spb or not window_s or anchor is None or height is None:
            return None
        if self._awaited is not None:
            expected, highest_then = self._awaited
            if (self.highest_nonce or 0) > highest_then:
                self._awaited = None  # a new window opened: the next one is awaited from here
            elif height >= expected:
                return None  # due and not seen yet (late, or off the grid): the normal cadence until it opens
        if self._awaited is None:
            next_open = anchor + step * ((height - anchor) // step + 1)  # the first grid height above
            self._awaited = (next_open, self.highest_nonce or 0)
        until = self.blocks.seconds_until(self._awaited[0])
        if until is None:
            return None
        # 0.75 of a window: a nonce that opens just after a look (early, or blocks faster than the
        # measured average) is still seen with a quarter of its window left, as after one lost poll.
        return min(until + spb / 2, MAX_POLL_SECONDS, 0.75 * window_s)

    async def run(self, *, once: bool = False) -> list[CycleResult]:
        """Until stop, the end time, or (once) one pass; with `once`, returns that pass's cycle
        results (without, nothing: each result has gone to `on_result` and the metrics)."""
        results: list[CycleResult] = []
        while not self.shared.stop.is_set():
            if self.until is not None and datetime.now(UTC) >= self.until:
                self.ended_reason = f"end time {self.until.isoformat()} reached"
                log.info("topic %d: %s; stopping this topic", self.topic_id, self.ended_reason)
                log.info("⏰ Competition end date %s reached. Shutting down. (topic %d)",
                         self.until.isoformat(), self.topic_id)
                break
            try:
                if self.shared.space_check is not None:
                    self.shared.space_check()
                polled = await self.poll_once(newest_only=once or self.schedule == "interval")
                if once:  # a daemon's loop would hold every result of its life: only `--once` reads them
                    results.extend(polled)
            except chain_errors.ChainIdMismatch as exc:
                self._chain_changed(ChainChanged(str(exc), reset=False))
                break
            except ChainChanged as exc:
                self._chain_changed(exc)
                break
            except chain_errors.TopicFatal as exc:
                # Every later window would fail the same way: stop this topic, say so once, keep
                # the others going.
                self.ended_reason = f"topic {self.topic_id} stopped: {exc.message}"
                log.error("TOPIC %d STOPPED: %s (%s); other topics go on", self.topic_id, exc.message,
                          exc.handling)
                self.shared.metrics.topic_fatal.labels(topic=str(self.topic_id)).set(1)
                self.shared.counters.last_error = self.ended_reason[:500]
                break
            except chain_errors.Fatal as exc:
                log.error("topic %d: %s — %s", self.topic_id, describe(exc), exc.handling)
            except chain_errors.ChainError as exc:
                self._chain_silent(exc)
            except _TopicStopped as stopped:
                self.ended_reason = str(stopped)
                break
            except WalletInUse:
                raise  # the whole daemon stops: another worker signs with this wallet
            except (sqlite3.Error, JournalUnavailable) as exc:
                # Settling closed windows needs the journal; the windows stay tracked and are
                # journaled missed once it can be written. Said once per stretch, not per poll.
                if not self._journal_down:
                    log.error("topic %d: the journal cannot be written (%s); refusing to submit until it can, and "
                              "closed windows will be journaled missed then: check the state directory's disk",
                              self.topic_id, exc)
                self._journal_down = True
            except Exception:
                # One broken poll never ends the daemon: log it whole and go on.
                log.exception("topic %d: unexpected error in the poll loop", self.topic_id)
            else:
                if self._journal_down:
                    log.info("topic %d: the journal is writable again", self.topic_id)
                self._journal_down = False
            self.shared.health.progress()
            self.shared.metrics.loop_heartbeat.set(time.time())
            if self.shared.on_iteration is not None:
                self.shared.on_iteration()
            if once:
                break
            await _sleep_or_stop(self.shared.stop, self.next_sleep())
        return results

    async def poll_once(self, *, newest_only: bool = False) -> list[CycleResult]:
        client = self.shared.client
        self.polls += 1
        early, self._early_look = self._early_look, False
        self._all_done = False  # set again only by a poll that completes and finds nothing left
        if not self._topic_read or self.polls % 100 == 1:
            await self._refresh_topic()
        # The open nonces do not depend on the height: ask for both at once, one round trip per
        # poll instead of two (a node answering in seconds costs a window's margin per trip).
        # With entries in flight the nonces are read after reconciling them, as before.
        in_flight = any(e.topic_id == self.topic_id for e in self.shared.journal.in_flight())
        nonces: asyncio.Future[list[int]] | None
        if early and not in_flight and not newest_only:
            looked = await self._early(client)
            if looked is None:
                return []
            nonces = asyncio.get_running_loop().create_future()
            nonces.set_result(looked)
        else:
            nonces = None if in_flight else asyncio.ensure_future(client.open_nonces(self.topic_id))
        try:
            return await self._poll_with(client, nonces, in_flight, newest_only)
        finally:
            if nonces is not None and not nonces.done():
                nonces.cancel()
            if nonces is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await nonces  # retrieved, so an unread failure is never logged as lost

    async def _early(self, client: ChainClient) -> list[int] | None:
        """An early look (next_sleep): the open nonces only, one request instead of two. None when
        they show nothing new (every open nonce known and settled): the loop sleeps again. Else the
        nonces, and the poll goes on as a whole one: the height (chain reset and chain id checks,
        the block clock, windows that passed unseen) is read before anything is signed. Between
        windows a look finds nothing new nearly always, so the height's request is the one saved:
        on an hourly topic, ~120 looks an hour at the 30 s cap."""
        open_nonces = await client.open_nonces(self.topic_id)
        if max(open_nonces, default=0) > (self.highest_nonce or 0) or not self._settled(open_nonces):
            return open_nonces
        # Back from longer than a window without an answer (the process paused or stalled): a
        # whole poll, so the windows that passed meanwhile are journaled with that cause.
        window_s = self._window_seconds()
        if self.last_answer is None or window_s is None or time.monotonic() - self.last_answer > window_s:
            return open_nonces
        self.last_answer = time.monotonic()
        self.shared.health.chain_answered()
        self._say_waiting(open_nonces)
        self._all_done = True
        return None

    async def _poll_with(self, client: ChainClient, nonces: asyncio.Future[list[int]] | None, in_flight: bool,
                         newest_only: bool) -> list[CycleResult]:
        height = await client.latest_height()
        if not self._highest_loaded:
            self.highest_nonce = self.shared.journal.max_nonce(self.topic_id)
            self._highest_loaded = True
        if self.highest_nonce is not None and height < self.highest_nonce:
            raise ChainChanged(
                f"the chain is at height {height}, below nonce {self.highest_nonce} that this journal already "
                "holds: the chain was reset (same chain id, new history)", reset=True)
        previous_answer = self.last_answer
        self.last_answer = time.monotonic()
        self.shared.health.chain_answered()
        self.blocks.observe(height)
        spb = self.blocks.seconds_per_block
        timing = client.timing(self.topic_id)
        window_s = timing.window_seconds(spb) if timing is not None else None
        epoch_s = timing.epoch_seconds(spb) if timing is not None else None
        if window_s and epoch_s:
            self.shared.health.timing(self.topic_id, window_seconds=window_s, epoch_seconds=epoch_s)
        if in_flight:
            await self._reconcile()
        open_nonces = await nonces if nonces is not None else await client.open_nonces(self.topic_id)
        if open_nonces:
            self.highest_nonce = max(self.highest_nonce or 0, *open_nonces)
        await self._settle_closed(set(open_nonces))
        # The interval schedule (the original script's hourly loop) skips the windows between its
        # ticks by design: they are not "missed", and must not turn /healthz red.
        unseen = self._record_unseen(height, set(open_nonces), previous_answer) if self.schedule != "interval" else 0
        self._chain_back(unseen)
        self._say_waiting(open_nonces)

        results: list[CycleResult] = []
        candidates = sorted(open_nonces, reverse=True)
        if newest_only:
            candidates = candidates[:1]
        for nonce in candidates:
            if self.shared.stop.is_set():
                break
            if self.not_before is not None and nonce < self.not_before:
                continue  # in doubt: a lost journal's tx may be pending for it (worker/in_doubt.py)
            track = self.tracked.setdefault(nonce, _NonceTrack(first_seen=time.monotonic()))
            entry = self.shared.journal.get(self.topic_id, nonce)
            if entry is not None and entry.terminal:
                continue
            if self.polls < track.next_try_poll:
                continue
            result = await self._cycle(nonce)
            results.append(result)
            track.attempts += 1
            track.last_detail = result.detail[:300]
            if result.outcome in SKIP_OUTCOMES:
                self._say_skipped(nonce, track, result.detail)
            if result.outcome in ("accepted", "already_submitted", "dry_run"):
                if result.outcome == "accepted":
                    waited = time.monotonic() - track.first_seen
                    self.shared.metrics.window_to_accepted.labels(topic=str(self.topic_id)).observe(waited)
            elif result.outcome == "rejected":
                # The chain said no: back off so a persistent verdict does not become a tx storm.
                # Transport failures and missing data are retried on the next poll instead: the
                # window is short and the next answer may well be fine.
                backoff = min(2 ** (track.attempts - 1), MAX_RETRY_BACKOFF_POLLS)
                track.next_try_poll = self.polls + backoff
        self._all_done = self._settled(open_nonces)
        return results

    def _settled(self, open_nonces: list[int]) -> bool:
        """Every open nonce is terminal in the journal (confirmed, missed, not admitted): no poll
        can change anything for them. A nonce held back as in doubt, or in flight, is not."""
        for nonce in open_nonces:
            entry = self.shared.journal.get(self.topic_id, nonce)
            if entry is None or not entry.terminal:
                return False
        return True

    def _say_skipped(self, nonce: int, track: _NonceTrack, reason: str) -> None:
        """One ERROR line per window for a skipped cycle. A predictor or data source that is down
        is asked again on every poll (it may come back before the window closes); a line per poll
        buried everything else. Repeats go to DEBUG, and the window's close line counts attempts."""
        if track.skips == 0:
            log.error("topic %d nonce %d: cycle skipped: %s (asked again every poll until the window closes)",
                      self.topic_id, nonce, reason)
        else:
            log.debug("topic %d nonce %d: cycle skipped again (attempt %d): %s", self.topic_id, nonce,
                      track.attempts, reason)
        track.skips += 1

    def _chain_changed(self, exc: ChainChanged) -> None:
        """Stop submitting at once, every topic: nothing more is signed for a chain we do not know."""
        log.error("topic %d: %s; stopped submitting", self.topic_id, exc)
        self.ended_reason = str(exc)
        if self.shared.chain_changed is None:
            self.shared.chain_changed = exc
        self.shared.stop.set()

    async def _cycle(self, nonce: int) -> CycleResult:
        shared = self.shared
        number = shared.cycles.next()
        shared.counters.cycles += 1
        shared.metrics.cycles.labels(topic=str(self.topic_id)).inc()
        try:
            result = await run_cycle(runtime=self.runtime, nonce=nonce, journal=shared.journal,
                                     client=shared.client, cycle_no=number, dry_run=shared.dry_run,
                                     confirm_timeout_s=self.confirm_budget(nonce), cadence=self.cadence())
        except (chain_errors.TopicFatal, WalletInUse):
            raise
        except chain_errors.ChainError as exc:
            log.warning("topic %d nonce %d: chain error: %s", self.topic_id, nonce, describe(exc))
            entry = shared.journal.get(self.topic_id, nonce)
            if entry is not None and entry.state == "claimed":
                shared.journal.mark_rejected(self.topic_id, nonce, error=describe(exc))
            result = CycleResult(self.topic_id, nonce, "failed", detail=describe(exc))
        except FencedOut as exc:
            # Another host holds the wallet's lease now: nothing more is recorded or signed here.
            log.error("topic %d nonce %d: %s", self.topic_id, nonce, exc)
            result = CycleResult(self.topic_id, nonce, "failed", detail=f"lease lost: {exc}")
        except (sqlite3.Error, JournalUnavailable) as exc:
            # The journal could not record a step: nothing past that step happens (no broadcast
            # without its journal entry), and the operator is told where to look.
            log.error("topic %d nonce %d: the journal %s cannot be written (%s); refusing to submit "
                      "until it can: check that the state directory is writable and its disk not full",
                      self.topic_id, nonce, shared.journal.describe(), exc)
            result = CycleResult(self.topic_id, nonce, "failed", detail=f"journal unwritable: {exc}")
        except Exception as exc:
            log.exception("topic %d nonce %d: cycle crashed", self.topic_id, nonce)
            entry = shared.journal.get(self.topic_id, nonce)
            if entry is not None and entry.state == "claimed":
                shared.journal.mark_rejected(self.topic_id, nonce, error=describe(exc))
            result = CycleResult(self.topic_id, nonce, "failed", detail=describe(exc))
        self._record(result)
        # What the cycle freed goes back to the OS now, not at the next busy moment: the daemon
        # idles most of an epoch, and its resident size is what a host's memory budget sees.
        release_free_memory()
        return result

    def _record(self, result: CycleResult) -> None:
        shared = self.shared
        topic = str(self.topic_id)
        if result.outcome != "skipped":
            shared.metrics.outcome(self.topic_id, result.outcome)
            shared.counters.count(result.outcome)
        if result.outcome in ("accepted", "already_submitted"):
            shared.metrics.last_success.labels(topic=topic).set(time.time())
            # The streak of windows without success ends at the acceptance, not at the close.
            self._window_result(True)
        if result.txhash and result.outcome == "accepted":
            shared.counters.tx(result.txhash)
        if result.value is not None:
            shared.metrics.last_prediction.labels(topic=topic).set(float(result.value))
        if result.data_age_seconds is not None:
            shared.metrics.data_age.labels(topic=topic).set(result.data_age_seconds)
        if result.outcome in ("failed", "rejected", "skipped_data", "skipped_model"):
            shared.counters.last_error = result.detail[:500]
        if shared.on_result is not None:
            shared.on_result(result)

    async def _settle_closed(self, open_now: set[int]) -> None:
        """Nonces seen open that are now closed: success, or journal `missed` (after a reconcile)."""
        journal = self.shared.journal
        for nonce in [n for n in self.tracked if n not in open_now]:
            # Popped only once settled: a journal that cannot be written now (disk full) is
            # asked again on the next poll, so the window is still recorded once it can be.
            track = self.tracked[nonce]
            entry = journal.get(self.topic_id, nonce)
            if entry is not None and entry.in_flight:
                await self._reconcile()
                entry = journal.get(self.topic_id, nonce)
            accepted = entry is not None and entry.state == CONFIRMED
            if not accepted and not self.shared.dry_run:
                if entry is None or not entry.terminal:
                    reason = "window closed without an accepted submission"
                    if track.last_detail:
                        reason += f"; last attempt: {track.last_detail}"
                    elif track.attempts == 0:
                        reason += "; no attempt was made"
                    journal.mark_missed(self.topic_id, nonce, reason=reason)
                    self.shared.metrics.outcome(self.topic_id, "missed")
                    self.shared.counters.count("missed")
                log.warning("topic %d nonce %d: window closed without an accepted submission (%d attempts)",
                            self.topic_id, nonce, track.attempts)
            del self.tracked[nonce]
            if not self.shared.dry_run:
                self._window_result(accepted)

    def _window_result(self, accepted: bool) -> None:
        self.shared.health.window_result(self.topic_id, accepted)
        self.shared.metrics.windows_without_success.labels(topic=str(self.topic_id)).set(
            self.shared.health.windows_without_success.get(self.topic_id, 0)
        )

    def _record_unseen(self, height: int, open_now: set[int], previous_answer: float | None) -> int:
        """Journal `missed`, with the cause, every window that opened and closed on chain while
        this loop did not see it (chain unreachable, the process paused or stalled, slow polls).

        The windows are the chain's nonces: heights on the topic's epoch grid
        (`epoch_last_ended` + k * `epoch_length`). A topic whose epochs start by time has no such
        grid (block times vary), so nothing is inferred for it here. Returns how many were recorded.
        """
        timing = self.shared.client.timing(self.topic_id)
        if self.window_blocks is None or self.epoch_last_ended is None or timing is None:
            return 0
        # A window is closed once the chain is past nonce + window.
        closed_to = height - self.window_blocks - 1
        if self.scanned_to is None:
            # Windows that closed before this process first looked are not ours to judge.
            self.scanned_to = closed_to
            return 0
        if closed_to <= self.scanned_to:
            return 0
        if self.blind is not None:
            cause = self.blind.cause
        elif previous_answer is not None and self._window_seconds() is not None and \
                time.monotonic() - previous_answer > (self._window_seconds() or 0.0):
            cause = (f"the worker did not poll for {time.monotonic() - previous_answer:.0f}s "
                     "(process paused, suspended or stalled)")
        else:
            cause = _BETWEEN_POLLS
        if not timing.known:
            # Blocks or seconds is not known until two nonces were seen: the windows since the
            # mark are judged then, with the first cause that explains them (a pause, an outage).
            if self._unseen_cause is None or self._unseen_cause == _BETWEEN_POLLS:
                self._unseen_cause = cause
            return 0
        if self._unseen_cause is not None:
            cause = self._unseen_cause if cause == _BETWEEN_POLLS else cause
            self._unseen_cause = None
        if self.epoch_blocks is None:
            self.scanned_to = closed_to  # epochs started by time: no grid to find windows on
            return 0
        journal = self.shared.journal
        recorded = 0
        # Height 0 (and below, early in a young chain) never opened a window.
        lo, step = max(self.scanned_to + 1, 1), self.epoch_blocks
        first = lo + (self.epoch_last_ended - lo) % step
        for nonce in range(first, closed_to + 1, step):
            if nonce in open_now or nonce in self.tracked:
                continue
            entry = journal.get(self.topic_id, nonce)
            if entry is not None and (entry.terminal or entry.in_flight):
                continue
            if not self.shared.dry_run:
                journal.mark_missed(self.topic_id, nonce, reason=f"window passed unseen: {cause}")
                self.shared.metrics.outcome(self.topic_id, "missed")
                self.shared.counters.count("missed")
                self._window_result(False)
            recorded += 1
        self.scanned_to = closed_to
        return recorded

    def _window_seconds(self) -> float | None:
        timing = self.shared.client.timing(self.topic_id)
        return timing.window_seconds(self.blocks.seconds_per_block) if timing is not None else None

    def _chain_silent(self, exc: chain_errors.ChainError) -> None:
        """A poll the chain did not answer: one WARNING when the outage starts, then quiet."""
        if self.blind is not None:
            self.blind.polls += 1
            log.debug("topic %d: chain still unreachable: %s", self.topic_id, describe(exc))
            return
        self.blind = _Blind(datetime.now(UTC), time.monotonic(),
                            f"no chain endpoint answered ({describe(exc)[:200]})")
        log.warning("❌ topic %d: chain unreachable since %s: %s; retrying every poll, "
                    "one line when it answers again", self.topic_id,
                    self.blind.since_wall.strftime("%Y-%m-%dT%H:%M:%SZ"), describe(exc))

    def _chain_back(self, unseen: int) -> None:
        blind, self.blind = self.blind, None
        if blind is None:
            if unseen:
                log.warning("topic %d: %d window(s) opened and closed unseen; journaled missed", self.topic_id,
                            unseen)
            return
        log.warning("topic %d: chain answers again after %.0fs (outage from %s, %d failed polls); "
                    "%d window(s) passed unseen and are journaled missed", self.topic_id,
                    time.monotonic() - blind.since, blind.since_wall.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    blind.polls, unseen)

    def _say_waiting(self, open_nonces: list[int]) -> None:
        if open_nonces:
            self._no_nonce_logged = None
            return
        now = time.monotonic()
        if self._no_nonce_logged is None or now - self._no_nonce_logged >= NO_NONCE_LOG_EVERY_S:
            self._no_nonce_logged = now
            log.info("topic %d: no unfulfilled nonce (waiting for the next window)", self.topic_id)

    def cadence(self) -> Cadence | None:
        """This topic's confirm pace, from the block time this loop measured (None: not yet known,
        the client's defaults). The client is shared by every topic: the pace travels with each
        call instead of being written into it."""
        spb = self.blocks.seconds_per_block
        if spb is None:
            return None
        rebroadcast_s, poll_s = confirm_cadence(spb)
        if not self.auto_rebroadcast:  # chain.rebroadcast_seconds, as configured
            rebroadcast_s = self.shared.client.rebroadcast_s
        return Cadence(poll_s=poll_s, rebroadcast_s=rebroadcast_s)

    def confirm_budget(self, nonce: int) -> float | None:
        """How long a confirmation for `nonce` may take: until its window closes, plus two blocks
        to see an inclusion in the last one, never more than the configured confirm timeout.

        Waiting (and re-sending) to the window's end means a dropped tx gets every chance the
        window allows within one cycle; waiting past it only delays the next window.
        """
        spb = self.blocks.seconds_per_block
        if spb is None or not self.window_blocks:
            return None
        left = self.blocks.seconds_until(nonce + self.window_blocks)
        if left is None:
            return None
        return min(self.shared.client.confirm_timeout_s, max(left, 0.0) + 2 * spb)

    async def _reconcile(self) -> None:
        """Settle in-flight txs with the chain; one that landed counts as accepted here."""
        # Only this topic: another topic's in-flight entry belongs to its live cycle.
        for item in await reconcile(self.shared.journal, self.shared.client, topic_id=self.topic_id,
                                    confirm_within=self.confirm_budget, cadence=self.cadence()):
            if item.after != item.before:
                log.info("reconciled topic %d nonce %d: %s -> %s", item.topic_id, item.nonce, item.before, item.after)
            if item.after == CONFIRMED and item.before != CONFIRMED:
                entry = self.shared.journal.get(item.topic_id, item.nonce)
                outcome = confirmed_outcome(entry) if entry is not None else "accepted"
                self.shared.metrics.outcome(self.topic_id, outcome)
                self.shared.metrics.last_success.labels(topic=str(self.topic_id)).set(time.time())
                self.shared.counters.count(outcome)
                self._window_result(True)

    async def _refresh_topic(self) -> None:
        client = self.shared.client
        topic = await client.topic(self.topic_id)
        self._topic_read = True
        self.epoch_last_ended = int(topic.epoch_last_ended) if int(topic.epoch_length) else None
        active = await client.is_topic_active(self.topic_id)
        if not active:
            if self.runtime.settings.on_inactive == "stop":
                raise _TopicStopped(f"topic {self.topic_id} is inactive on chain and on_inactive = stop")
            log.warning("topic %d is inactive on chain; waiting for it to become active", self.topic_id)


class _TopicStopped(Exception):
    pass


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
