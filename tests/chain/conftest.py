"""Devnet fixtures for the chain tests: a real gRPC devnet on loopback, port 0, fast blocks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from allora_worker.chain.client import ChainClient
from allora_worker.chain.wallet import Wallet
from allora_worker.devnet.config import DevnetConfig, TopicConfig
from allora_worker.devnet.server import Devnet

BLOCK_TIME = 0.1
FUNDS = 10**21


def new_wallet() -> Wallet:
    return Wallet.from_private_key(os.urandom(32))


def topics() -> list[TopicConfig]:
    # Two long-window topics (concurrent submissions) and one short one (windows close quickly).
    return [
        # epoch_offset=2: the first window opens at height 2, so a test never waits for an epoch.
        TopicConfig(id=67, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=40,
                    worker_submission_window=35, ground_truth_lag=40, epoch_offset=2),
        TopicConfig(id=68, epoch_length=40, worker_submission_window=35, ground_truth_lag=40, epoch_offset=2),
        TopicConfig(id=69, epoch_length=12, worker_submission_window=3, ground_truth_lag=12, epoch_offset=2),
    ]


@dataclass
class Env:
    devnet: Devnet
    wallet: Wallet
    make_client: Callable[..., ChainClient]

    @property
    def url(self) -> str:
        return self.devnet.grpc_url

    async def open_nonce(self, client: ChainClient, topic_id: int, timeout: float = 10.0) -> int:
        """The newest open nonce whose window has at least a few blocks left."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        topic = await client.topic(topic_id)
        while loop.time() < end:
            nonces = await client.open_nonces(topic_id)
            height = self.devnet.height
            fresh = [n for n in nonces if n + topic.worker_submission_window - height >= 2]
            if fresh:
                return fresh[-1]
            await asyncio.sleep(BLOCK_TIME)
        raise AssertionError(f"no open nonce on topic {topic_id} within {timeout}s")


@pytest.fixture()
async def env() -> AsyncIterator[Env]:
    wallet = new_wallet()
    config = DevnetConfig(
        block_time=BLOCK_TIME,
        topics=topics(),
        accounts={wallet.address: FUNDS},
        registered_workers=[(67, wallet.address), (68, wallet.address), (69, wallet.address)],
    )
    clients: list[ChainClient] = []
    async with Devnet(config) as devnet:

        def make_client(*, endpoints: list[str] | None = None, wallet: Wallet | None = wallet,
                        **kw: object) -> ChainClient:
            params: dict[str, object] = {"call_timeout_s": 2.0, "confirm_timeout_s": 5.0,
                                         "poll_interval_s": 0.05, "backoff_s": 0.05}
            params.update(kw)
            c = ChainClient(endpoints or [devnet.grpc_url], config.chain_id, wallet, **params)  # type: ignore[arg-type]
            clients.append(c)
            return c

        yield Env(devnet, wallet, make_client)
        for c in clients:
            c.close()
