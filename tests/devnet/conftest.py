"""Fixtures: an in-process devnet on 127.0.0.1 (port 0) and a thin client over the real gRPC stubs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import betterproto2
import pytest
from allora_sdk.rpc_client.protos.cosmos.auth.v1beta1 import QueryAccountInfoRequest
from allora_sdk.rpc_client.protos.cosmos.auth.v1beta1 import QueryStub as AuthStub
from allora_sdk.rpc_client.protos.cosmos.bank.v1beta1 import QueryBalanceRequest
from allora_sdk.rpc_client.protos.cosmos.bank.v1beta1 import QueryStub as BankStub
from allora_sdk.rpc_client.protos.cosmos.base.abci.v1beta1 import TxResponse
from allora_sdk.rpc_client.protos.cosmos.base.tendermint.v1beta1 import ServiceStub as TendermintStub
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import BroadcastMode, BroadcastTxRequest, GetTxRequest
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import ServiceStub as TxStub
from allora_sdk.rpc_client.protos.emissions.v10 import QueryServiceStub as EmissionsStub
from grpclib.client import Channel

from allora_worker.devnet import Devnet, DevnetConfig, TopicConfig
from allora_worker.devnet.txbuild import Key, build_tx

CHAIN_ID = "allora-devnet-1"
TOPIC = 67
EPOCH = 5
WINDOW = 3


@dataclass
class Client:
    """Real gRPC stubs to the devnet plus helpers to send hand-built txs."""

    devnet: Devnet
    channel: Channel
    tx: TxStub = field(init=False)
    auth: AuthStub = field(init=False)
    bank: BankStub = field(init=False)
    tendermint: TendermintStub = field(init=False)
    emissions: EmissionsStub = field(init=False)

    def __post_init__(self) -> None:
        self.tx = TxStub(self.channel)
        self.auth = AuthStub(self.channel)
        self.bank = BankStub(self.channel)
        self.tendermint = TendermintStub(self.channel)
        self.emissions = EmissionsStub(self.channel)

    async def info(self, key: Key) -> Any:
        return (await self.auth.account_info(QueryAccountInfoRequest(address=key.address))).info

    async def balance(self, key: Key) -> int:
        resp = await self.bank.balance(QueryBalanceRequest(address=key.address, denom="uallo"))
        assert resp.balance is not None
        return int(resp.balance.amount)

    async def make_tx(
        self, key: Key, msgs: list[tuple[str, betterproto2.Message]], sequence: int | None = None, **kw: Any
    ) -> bytes:
        acc = self.devnet.state.account(key.address)
        assert acc is not None
        seq = self.devnet.state.check_sequence(key.address) if sequence is None else sequence
        return build_tx(key, msgs, chain_id=CHAIN_ID, account_number=acc.number, sequence=seq, **kw)

    async def broadcast(self, tx_bytes: bytes) -> TxResponse:
        resp = await self.tx.broadcast_tx(BroadcastTxRequest(tx_bytes=tx_bytes, mode=BroadcastMode.SYNC))
        assert resp.tx_response is not None
        return resp.tx_response

    async def send(
        self, key: Key, msgs: list[tuple[str, betterproto2.Message]], sequence: int | None = None, **kw: Any
    ) -> TxResponse:
        return await self.broadcast(await self.make_tx(key, msgs, sequence, **kw))

    async def deliver(self, key: Key, msgs: list[tuple[str, betterproto2.Message]], **kw: Any) -> TxResponse:
        """Broadcast (must pass CheckTx), produce a block, return the included result from GetTx."""
        checked = await self.send(key, msgs, **kw)
        assert checked.code == 0, checked.raw_log
        await self.devnet.advance_blocks(1)
        got = await self.tx.get_tx(GetTxRequest(hash=checked.txhash))
        assert got.tx_response is not None
        return got.tx_response


@pytest.fixture
def worker_key() -> Key:
    return Key.from_seed("devnet-test-worker")


@pytest.fixture
def stranger_key() -> Key:
    return Key.from_seed("devnet-test-stranger")


def manual_config(worker: Key, stranger: Key, **overrides: Any) -> DevnetConfig:
    """Blocks only when a test says so: rejections are pinned without any timing."""
    params: dict[str, Any] = {
        "block_time": 0.05,
        "auto_blocks": False,
        "topics": [
            TopicConfig(id=TOPIC, metadata="t67", epoch_length=EPOCH, worker_submission_window=WINDOW)
        ],
        "accounts": {worker.address: 10**18, stranger.address: 10**18},
        "registered_workers": [(TOPIC, worker.address)],
    }
    params.update(overrides)
    return DevnetConfig(**params)


@pytest.fixture
def config_factory(worker_key: Key, stranger_key: Key) -> Any:
    return lambda **overrides: manual_config(worker_key, stranger_key, **overrides)


@pytest.fixture
def client_for() -> Any:
    @contextlib.asynccontextmanager
    async def make(dn: Devnet) -> AsyncIterator[Client]:
        channel = Channel("127.0.0.1", dn.port)
        try:
            yield Client(dn, channel)
        finally:
            channel.close()

    return make


@pytest.fixture
async def devnet(worker_key: Key, stranger_key: Key) -> AsyncIterator[Devnet]:
    async with Devnet(manual_config(worker_key, stranger_key)) as dn:
        yield dn


@pytest.fixture
async def client(devnet: Devnet) -> AsyncIterator[Client]:
    channel = Channel("127.0.0.1", devnet.port)
    try:
        yield Client(devnet, channel)
    finally:
        channel.close()


async def open_nonce(devnet: Devnet) -> int:
    """Advance until topic 67 has an open worker nonce; return it."""
    for _ in range(EPOCH + 1):
        nonces = devnet.state.unfulfilled_nonces(TOPIC)
        if nonces:
            return nonces[0]
        await devnet.advance_blocks(1)
    raise AssertionError("no nonce opened")


@pytest.fixture
def nonce_opener() -> Any:
    return open_nonce
