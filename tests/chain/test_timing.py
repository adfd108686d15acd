"""A topic's timing unit read from its nonces and the chain's block time (chain/timing.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from allora_worker.chain.timing import BlockClock, TopicTiming, infer_unit


def test_the_unit_is_read_from_the_spacing_of_nonces() -> None:
    assert infer_unit(3600, [7200], 6.0) is None  # one nonce says nothing
    assert infer_unit(3600, [3600, 7200], 5.5) == "blocks"  # 1 epoch in blocks; 5.5 in seconds fits no k
    assert infer_unit(3600, [3600, 10800], 5.5) == "blocks"  # a window went unseen between them
    # Scheduler-driven epochs on a 6 s chain: an hour is about 600 blocks, never a multiple of 3600.
    assert infer_unit(3600, [1000, 1601], 6.0) == "seconds"
    assert infer_unit(3600, [1000, 1601], None) == "seconds"
    # A pause of 4 epochs in blocks looks like one epoch in seconds on 0.25 s blocks: one gap
    # cannot tell them apart; the next gap does.
    assert infer_unit(20, [100, 180], 0.25) is None
    assert infer_unit(20, [100, 180, 200], 0.25) == "blocks"
    # A fast chain timed in seconds (3 s epochs, 0.1 s blocks): 30 blocks is 10 epochs in blocks
    # or one in seconds; a block time that wanders breaks the tie, or the smaller count does.
    assert infer_unit(3, [2, 32, 63], 0.1) == "seconds"
    assert infer_unit(3, [2, 32, 62], 0.1) == "seconds"
    assert infer_unit(20, [2, 25], 0.5) is None  # neither fits: wait for more nonces


def test_a_window_in_seconds_ends_at_a_height_from_the_block_time() -> None:
    blocks = TopicTiming("blocks", 20, 16)
    assert blocks.end_height(100, 0.2) == 116 and blocks.end_height(100, None) == 116
    assert blocks.window_seconds(0.2) == 3.2 and blocks.epoch_grid_blocks == 20
    seconds = TopicTiming("seconds", 3600, 300)
    assert seconds.end_height(1000, None) == 0  # no timeout height rather than a wrong one
    assert seconds.end_height(1000, 6.0) == 1000 + 50 + 1
    assert seconds.window_blocks(5.5) == 55 and seconds.window_seconds(5.5) == 300.0
    assert seconds.epoch_grid_blocks is None  # epochs started by time fall on no height grid
    # Before two nonces showed the unit, nothing irreversible rests on the guess.
    guess = TopicTiming("blocks", 20, 16, known=False)
    assert guess.end_height(100, 0.2) == 0 and guess.epoch_grid_blocks is None and guess.window_blocks(0.2) == 16


def test_the_block_time_comes_from_the_headers() -> None:
    clock = BlockClock()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    clock.observe(100, t0)
    clock.observe(102, t0 + timedelta(seconds=12))
    assert clock.seconds_per_block is None  # too few blocks to say
    clock.observe(110, t0 + timedelta(seconds=55))
    assert clock.seconds_per_block == 5.5
