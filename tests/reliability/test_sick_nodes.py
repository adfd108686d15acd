"""Sick nodes: a first endpoint that answers HTTP 500, a web page, a cut-off message or no gRPC
status is skipped for the next one, at pre-flight and at run time (a real HTTP/2 server on
loopback, `harness.sick_node`, in front of a real devnet); a first endpoint that answers, but in
seconds, gives way to a fast one."""

from __future__ import annotations

import asyncio
import time

import pytest

from allora_worker.chain.client import ChainClient
from allora_worker.chain.wallet import Wallet
from harness.daemon import wait_until
from harness.sick_node import KINDS, SickNode, SlowProxy
from tests.conftest import TEST_MNEMONIC

from .conftest import TOPIC, Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


@pytest.mark.parametrize("kind", KINDS)
def test_a_sick_first_endpoint_fails_over_to_the_good_one(make_rig, kind: str) -> None:
    rig: Rig = make_rig()

    async def ask(url: str) -> tuple[str, int, str]:
        client = ChainClient([url, rig.dn.grpc_url], rig.dn.config.chain_id, None, call_timeout_s=5.0)
        try:
            chain_id = await client.check_chain_id()
            height = await client.latest_height()
            return chain_id, height, client.pool.current.url
        finally:
            client.close()

    with SickNode(kind) as sick:
        chain_id, height, used = asyncio.run(ask(sick.url))
        assert sick.requests >= 1, "the sick endpoint was never asked: the test would mean nothing"
    assert chain_id == rig.dn.config.chain_id and height > 0
    assert used == rig.dn.grpc_url


def test_daemon_with_a_500_first_endpoint_passes_preflight_and_submits(make_rig) -> None:
    rig: Rig = make_rig()
    with SickNode("http500") as sick:
        daemon = rig.start(rig.config(grpc_url=[sick.url, rig.dn.grpc_url]))
        daemon.wait_for_line("DAEMON MODE STARTED", timeout=60)
        rig.wait_accepted_count(2, timeout=60)
        assert daemon.stop() == 0, daemon.text()[-3000:]
    rig.assert_no_duplicates()


def test_a_slow_first_endpoint_gives_way_to_the_faster_one(make_rig) -> None:
    rig: Rig = make_rig()
    delay = 1.5

    async def ask(url: str) -> tuple[float, str]:
        client = ChainClient([url, rig.dn.grpc_url], rig.dn.config.chain_id, None, call_timeout_s=10.0)
        try:
            await client.latest_height()  # the slow node answers first, and is measured
            started = time.monotonic()
            for _ in range(6):
                await client.latest_height()
            return time.monotonic() - started, client.pool.current.url
        finally:
            client.close()

    with SlowProxy(rig.dn.devnet.port, delay) as slow:
        took, used = asyncio.run(ask(slow.url))
    assert used == rig.dn.grpc_url
    # Six calls through the slow node would take at least 9 s; through the fast one, well under.
    assert took < 3 * delay, took


def test_simulation_and_gas_price_are_asked_at_once(make_rig) -> None:
    # A node that takes a second per answer: the two queries a signature needs cost one second.
    rig: Rig = make_rig(epoch=100, window=90)
    rig.dn.faults.latency.update({"Simulate": 1.0, "GasPrice": 1.0})
    wallet = Wallet.from_mnemonic(TEST_MNEMONIC)

    async def sign_once() -> float:
        client = ChainClient([rig.dn.grpc_url], rig.dn.config.chain_id, wallet, call_timeout_s=10.0)
        try:
            nonce = max(await client.open_nonces(TOPIC))
            await client.account()  # not what is measured
            started = time.monotonic()
            await client.prepare(TOPIC, nonce, "0.01")
            return time.monotonic() - started
        finally:
            client.close()

    wait_until(lambda: rig.open_nonces(), 30, "an open window")
    took = asyncio.run(sign_once())
    assert 1.0 <= took < 1.8, took  # one after the other would be at least 2 s
