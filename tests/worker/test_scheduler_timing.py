"""Fast unit tests of the scheduler's clock: block time, time left in a window, the confirm budget."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from allora_worker.chain.timing import TopicTiming
from allora_worker.journal import Journal
from allora_worker.worker import scheduler
from allora_worker.worker.cycle import CycleCounter, CycleResult
from allora_worker.worker.health import HealthState
from allora_worker.worker.heartbeat import RunCounters
from allora_worker.worker.metrics import WorkerMetrics
from allora_worker.worker.scheduler import BlockTimer, Shared, TopicLoop


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(scheduler.time, "monotonic", fake)
    return fake


def test_block_timer_estimates_seconds_per_block(clock: FakeMonotonic) -> None:
    timer = BlockTimer()
    assert timer.seconds_per_block is None
    timer.observe(100)
    clock.now += 0.05
    timer.observe(105)
    assert timer.seconds_per_block == pytest.approx(0.01)


def test_seconds_until_a_height_counts_time_since_the_last_observation(clock: FakeMonotonic) -> None:
    timer = BlockTimer()
    timer.observe(100)
    assert timer.seconds_until(120) is None  # no block time yet
    clock.now += 10.0
    timer.observe(110)  # 1 s per block
    assert timer.seconds_until(120) == pytest.approx(10.0)
    clock.now += 2.5
    assert timer.seconds_until(120) == pytest.approx(7.5)
    assert timer.seconds_until(105) == pytest.approx(-7.5)


@pytest.fixture()
def journal(tmp_path: Path) -> Iterator[Journal]:
    # A real, empty journal: the loop reads the highest nonce it already knows at construction.
    with Journal(tmp_path / "journal.sqlite") as j:
        yield j


def _loop(confirm_timeout_s: float, window_blocks: int | None, client: SimpleNamespace | None = None,
          *, journal: Journal) -> TopicLoop:
    timing = TopicTiming("blocks", 20, window_blocks) if window_blocks else None
    shared = SimpleNamespace(client=client or SimpleNamespace(confirm_timeout_s=confirm_timeout_s,
                                                              timing=lambda _topic: timing), journal=journal)
    return TopicLoop(SimpleNamespace(topic_id=67), shared)  # type: ignore[arg-type]


def test_confirm_budget_runs_to_the_window_end_plus_two_blocks(clock: FakeMonotonic, journal: Journal) -> None:
    loop = _loop(confirm_timeout_s=60.0, window_blocks=16, journal=journal)
    assert loop.confirm_budget(200) is None  # block time unknown: the client's default applies
    loop.blocks.observe(200)
    clock.now += 2.0
    loop.blocks.observe(210)  # 0.2 s per block; window of nonce 200 closes at 216
    assert loop.confirm_budget(200) == pytest.approx(6 * 0.2 + 2 * 0.2)
    clock.now += 5.0  # past the close: only the two blocks to see a last-block inclusion
    assert loop.confirm_budget(200) == pytest.approx(0.4)


def test_confirm_budget_never_exceeds_the_configured_timeout(clock: FakeMonotonic, journal: Journal) -> None:
    loop = _loop(confirm_timeout_s=3.0, window_blocks=100, journal=journal)
    loop.blocks.observe(0)
    clock.now += 50.0
    loop.blocks.observe(10)  # 5 s blocks: 90 blocks = 450 s left in the window
    assert loop.confirm_budget(0) == 3.0
    assert _loop(confirm_timeout_s=3.0, window_blocks=None, journal=journal).confirm_budget(0) is None


def test_confirm_cadence_resends_and_looks_once_a_block() -> None:
    assert scheduler.confirm_cadence(0.2) == pytest.approx((0.2, 0.2))
    assert scheduler.confirm_cadence(5.0) == pytest.approx((5.0, 5.0))
    # A clock too fast to measure is floored: no busy loop.
    rebroadcast, look = scheduler.confirm_cadence(0.001)
    assert rebroadcast >= scheduler.MIN_POLL_SECONDS and look >= scheduler.MIN_POLL_SECONDS


def test_each_topic_confirms_at_its_own_pace_on_a_shared_client(clock: FakeMonotonic, journal: Journal) -> None:
    """Two topics on one client: each one's cadence comes from its own measured blocks, and the
    shared client is never written (it was: the last topic to poll set the pace for all)."""
    client = SimpleNamespace(confirm_timeout_s=60.0, rebroadcast_s=3.0, poll_interval_s=0.5)
    fast, slow = _loop(60.0, 16, client, journal=journal), _loop(60.0, 16, client, journal=journal)
    assert fast.cadence() is None  # nothing measured yet: the client's defaults apply
    fast.blocks.observe(0)
    slow.blocks.observe(0)
    clock.now += 1.0
    fast.blocks.observe(10)  # 0.1 s blocks
    slow.blocks.observe(4)  # 0.25 s blocks
    assert (fast.cadence().rebroadcast_s, fast.cadence().poll_s) == pytest.approx(scheduler.confirm_cadence(0.1))
    assert (slow.cadence().rebroadcast_s, slow.cadence().poll_s) == pytest.approx(scheduler.confirm_cadence(0.25))
    slow.auto_rebroadcast = False  # chain.rebroadcast_seconds configured: that period, this topic's look
    assert slow.cadence().rebroadcast_s == 3.0
    assert vars(client) == {"confirm_timeout_s": 60.0, "rebroadcast_s": 3.0, "poll_interval_s": 0.5}


def test_a_topic_timed_in_seconds_has_its_window_in_blocks_from_the_block_time_and_no_grid(
        clock: FakeMonotonic, journal: Journal) -> None:
    client = SimpleNamespace(confirm_timeout_s=60.0, timing=lambda _topic: TopicTiming("seconds", 30, 10))
    loop = _loop(confirm_timeout_s=60.0, window_blocks=None, client=client, journal=journal)
    assert loop.window_blocks is None  # block time not measured yet
    loop.blocks.observe(100)
    clock.now += 5.0
    loop.blocks.observe(110)  # 0.5 s per block: a 10 s window is 20 blocks
    assert loop.window_blocks == 20 and loop._window_seconds() == 10.0
    # Epochs started by time fall on no height grid: no window is guessed missed from one.
    assert loop.epoch_blocks is None
    loop.epoch_last_ended = 100
    assert loop._record_unseen(200, set(), None) == 0 and loop._record_unseen(400, set(), None) == 0


def _idle_loop(journal: Journal, *, poll_seconds: float | None = None) -> TopicLoop:
    """Topic 67 on 0.2 s blocks, nonces every 20 blocks, 16-block windows (the soaks' clock)."""
    timing = TopicTiming("blocks", 20, 16)
    shared = SimpleNamespace(client=SimpleNamespace(confirm_timeout_s=60.0, timing=lambda _topic: timing),
                             journal=journal)
    runtime = SimpleNamespace(topic_id=67, settings=SimpleNamespace(poll_seconds=poll_seconds))
    return TopicLoop(runtime, shared)  # type: ignore[arg-type]


def _confirm(journal: Journal, nonce: int) -> None:
    journal.claim(67, nonce, value="1.0")
    journal.mark_signed(67, nonce, txhash="AB" * 32, tx_bytes=b"tx", sequence=1)
    journal.mark_confirmed(67, nonce, height=nonce + 1)


def test_a_settled_window_sleeps_until_the_next_one_is_due_then_polls_at_the_cadence_while_it_is_late(
        clock: FakeMonotonic, journal: Journal) -> None:
    loop = _idle_loop(journal)
    loop.blocks.observe(200)
    clock.now += 2.0
    loop.blocks.observe(210)  # 0.2 s blocks: the cadence is a quarter of the 3.2 s window
    loop.highest_nonce = 200
    assert loop.poll_seconds() == pytest.approx(0.8)
    assert not loop._settled([200])  # nonce 200 open, not yet submitted: the cadence
    assert loop.next_sleep() == pytest.approx(0.8)
    _confirm(journal, 200)
    loop._all_done = loop._settled([200])
    assert loop._all_done
    # Nonce 220 opens in 10 blocks: 2 s, plus half a block so the first look finds it open.
    assert loop.next_sleep() == pytest.approx(2.1)
    clock.now += 1.0
    assert loop.next_sleep() == pytest.approx(1.1)
    clock.now += 1.2
    loop.blocks.observe(221)  # due and not seen: late (or off the grid), the cadence until it opens
    assert loop.next_sleep() == pytest.approx(0.8)
    loop.highest_nonce = 221  # it opened (a block late) and was filled: the next one is awaited
    _confirm(journal, 221)
    assert loop.next_sleep() == pytest.approx(0.75 * 3.2)  # 240 is 19 blocks away: a window's 3/4 at most


def test_the_sleep_to_the_next_window_is_never_taken_without_a_grid_or_with_a_window_left_to_fill(
        clock: FakeMonotonic, journal: Journal) -> None:
    loop = _idle_loop(journal)
    loop._all_done = True
    assert loop.next_sleep() == 0.5  # no block time yet: nothing to predict with
    loop.blocks.observe(200)
    clock.now += 2.0
    loop.blocks.observe(210)
    loop.highest_nonce = 200
    assert loop.next_sleep() == pytest.approx(2.1)
    loop._all_done = False  # an open nonce not terminal (in flight, rejected, skipped): the cadence
    assert loop.next_sleep() == pytest.approx(0.8)
    configured = _idle_loop(journal, poll_seconds=0.3)  # the operator's poll_seconds is kept
    configured.blocks.observe(200)
    clock.now += 2.0
    configured.blocks.observe(210)
    configured.highest_nonce, configured._all_done = 200, True
    assert configured.next_sleep() == 0.3
    seconds = _idle_loop(journal)  # epochs started by time: no grid, no prediction
    seconds.shared.client.timing = lambda _topic: TopicTiming("seconds", 4, 3)
    seconds.blocks.observe(200)
    clock.now += 2.0
    seconds.blocks.observe(210)
    seconds.highest_nonce, seconds._all_done = 200, True
    assert seconds.next_sleep() == pytest.approx(0.75)


def _running_loop(journal: Journal, polls: Callable[[TopicLoop, asyncio.Event], list[CycleResult]]) -> TopicLoop:
    """A topic loop over real shared parts whose poll is `polls` (the chain's part is not under test)."""
    stop = asyncio.Event()
    shared = Shared(client=SimpleNamespace(), journal=journal, metrics=WorkerMetrics(),  # type: ignore[arg-type]
                    health=HealthState(), counters=RunCounters(), cycles=CycleCounter(), stop=stop)
    loop = TopicLoop(SimpleNamespace(topic_id=67, settings=SimpleNamespace(poll_seconds=0.0)), shared)  # type: ignore[arg-type]

    async def poll_once(*, newest_only: bool = False) -> list[CycleResult]:
        return polls(loop, stop)

    loop.poll_once = poll_once  # type: ignore[method-assign]
    return loop


def test_a_daemons_loop_keeps_no_cycle_results(journal: Journal) -> None:
    # A daemon's loop runs for months: each result it kept stayed for its whole life (#18, RSS).
    made: list[weakref.ref[CycleResult]] = []
    alive_at_the_end: list[int] = []

    def polls(loop: TopicLoop, stop: asyncio.Event) -> list[CycleResult]:
        if len(made) == 50:
            gc.collect()
            alive_at_the_end.append(sum(ref() is not None for ref in made))
            stop.set()
            return []
        result = CycleResult(67, 1000 + len(made), "accepted")
        made.append(weakref.ref(result))
        return [result]

    returned = asyncio.run(_running_loop(journal, polls).run())
    # At most the previous poll's result (still named while the next poll runs), never all 50.
    assert len(alive_at_the_end) == 1 and alive_at_the_end[0] <= 1 and returned == []


def test_a_loop_run_once_returns_its_results(journal: Journal) -> None:
    # `--once` decides its exit code from them.
    result = CycleResult(67, 1000, "accepted")
    assert asyncio.run(_running_loop(journal, lambda loop, stop: [result]).run(once=True)) == [result]


def test_an_early_look_reads_only_the_nonces_unless_it_comes_back_from_a_pause(
        clock: FakeMonotonic, journal: Journal) -> None:
    """A look woken before the next window is due asks for the open nonces alone; one that comes
    more than a window after the last answer (the process was paused) is a whole poll, so the
    windows that passed are journaled with that cause (worker/scheduler.py TopicLoop._early)."""
    asked: list[str] = []
    timing = TopicTiming("blocks", 20, 16)

    async def open_nonces(_topic: int) -> list[int]:
        asked.append("nonces")
        return [loop.highest_nonce or 0]  # the window just filled, still open

    async def latest_height() -> int:
        asked.append("height")
        raise _WholePoll

    client = SimpleNamespace(confirm_timeout_s=60.0, timing=lambda _topic: timing, open_nonces=open_nonces,
                             latest_height=latest_height)
    shared = Shared(client=client, journal=journal, metrics=WorkerMetrics(), health=HealthState(),  # type: ignore[arg-type]
                    counters=RunCounters(), cycles=CycleCounter(), stop=asyncio.Event())
    loop = TopicLoop(SimpleNamespace(topic_id=67, settings=SimpleNamespace(poll_seconds=None)), shared)  # type: ignore[arg-type]
    loop._topic_read, loop.polls = True, 1  # the topic was read (every 100th poll reads it again)
    loop.blocks.observe(200)
    clock.now += 2.0
    loop.blocks.observe(210)  # 0.2 s blocks, 3.2 s windows
    loop.highest_nonce, loop.last_answer = 200, clock.now
    _confirm(journal, 200)
    loop._all_done = True
    assert loop.next_sleep() == pytest.approx(2.1) and loop._early_look is False  # wakes after the opening
    clock.now += 2.2
    loop.blocks.observe(221)
    loop.highest_nonce, loop.last_answer = 220, clock.now
    _confirm(journal, 220)  # filled; 240 is 19 blocks away: the 0.75-window cap wakes it first
    assert loop.next_sleep() == pytest.approx(0.75 * 3.2) and loop._early_look is True
    clock.now += 2.4
    assert asyncio.run(loop.poll_once()) == [] and asked == ["nonces"]
    assert loop._all_done and loop.last_answer == clock.now
    clock.now += 1.6
    loop.blocks.observe(241)
    loop.highest_nonce, loop.last_answer = 240, clock.now
    _confirm(journal, 240)
    assert loop.next_sleep() == pytest.approx(0.75 * 3.2) and loop._early_look is True
    clock.now += 30.0  # SIGSTOP during that sleep: it wakes long after a window
    asked.clear()
    with pytest.raises(_WholePoll):
        asyncio.run(loop.poll_once())
    assert asked == ["nonces", "height"]


class _WholePoll(Exception):
    """Raised by the fake height query: the poll went on as a whole one."""
