"""What the client reuses within a window instead of asking again (a slow node charges per request)."""

from __future__ import annotations

import asyncio

import pytest

from allora_worker.chain.client import GAS_PRICE_REUSE_BLOCKS

from .conftest import Env

pytestmark = pytest.mark.integration


def _calls(env: Env, method: str) -> int:
    return sum(n for service in env.devnet.services for path, n in service.calls.items()
               if path.endswith("/" + method))


async def test_gas_price_is_asked_once_for_a_few_blocks_then_again(env: Env) -> None:
    c = env.make_client()
    height = await c.latest_height()
    first = await c.gas_price()
    assert await c.gas_price() == first  # a second topic in the same window
    assert _calls(env, "GasPrice") == 1
    while env.devnet.height < height + GAS_PRICE_REUSE_BLOCKS:
        await asyncio.sleep(0.02)
    await c.latest_height()  # the next poll sees the chain moved on
    await c.gas_price()
    assert _calls(env, "GasPrice") == 2


async def test_two_topics_in_one_window_share_one_gas_price_and_one_account_read(env: Env) -> None:
    c = env.make_client()
    await c.latest_height()
    n67, n68 = await env.open_nonce(c, 67), await env.open_nonce(c, 68)
    await asyncio.gather(c.submit(67, n67, 0.001), c.submit(68, n68, 0.002))
    assert {a.topic_id for a in env.devnet.accepted_inferences()} == {67, 68}
    assert _calls(env, "GasPrice") == 1
    assert _calls(env, "AccountInfo") == 1  # the sequence is allocated locally after the first read
