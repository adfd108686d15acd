"""The happy path and the chain's clocks, over real gRPC: queries, windows, inclusion, GetTx."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from allora_sdk.rpc_client.protos.cosmos.auth.v1beta1 import BaseAccount, QueryAccountRequest
from allora_sdk.rpc_client.protos.cosmos.base.tendermint.v1beta1 import (
    GetBlockByHeightRequest,
    GetLatestBlockRequest,
    GetNodeInfoRequest,
)
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import GetTxRequest, SimulateRequest
from allora_sdk.rpc_client.protos.emissions.v10 import (
    CanSubmitWorkerPayloadRequest,
    GetTopicRequest,
    GetUnfulfilledWorkerNoncesRequest,
    GetWorkerSubmissionWindowStatusRequest,
    IsWorkerNonceUnfulfilledRequest,
    IsWorkerRegisteredInTopicIdRequest,
)
from allora_sdk.rpc_client.protos.feemarket.feemarket.v1 import GasPriceRequest
from allora_sdk.rpc_client.protos.feemarket.feemarket.v1 import QueryStub as FeemarketStub
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet import Devnet
from allora_worker.devnet.txbuild import Key, payload_msg, register_msg

TOPIC, EPOCH, WINDOW = 67, 5, 3


async def test_node_info_block_and_account_queries(devnet: Devnet, client: Any, worker_key: Key) -> None:
    info = await client.tendermint.get_node_info(GetNodeInfoRequest())
    assert info.default_node_info.network == "allora-devnet-1"
    await devnet.advance_blocks(2)
    latest = await client.tendermint.get_latest_block(GetLatestBlockRequest())
    assert latest.sdk_block.header.height == devnet.height == 3
    by_height = await client.tendermint.get_block_by_height(GetBlockByHeightRequest(height=2))
    assert by_height.sdk_block.header.height == 2
    with pytest.raises(GRPCError):
        await client.tendermint.get_block_by_height(GetBlockByHeightRequest(height=99))

    acc = await client.auth.account(QueryAccountRequest(address=worker_key.address))
    assert acc.account.type_url == "/cosmos.auth.v1beta1.BaseAccount"
    base = BaseAccount.parse(acc.account.value)
    assert base.address == worker_key.address and base.sequence == 0 and base.pub_key is None
    assert await client.balance(worker_key) == 10**18
    with pytest.raises(GRPCError) as err:
        await client.auth.account(QueryAccountRequest(address=Key.from_seed("nobody").address))
    assert err.value.status == Status.NOT_FOUND

    price = await FeemarketStub(client.channel).gas_price(GasPriceRequest(denom="uallo"))
    assert int(price.price.amount) == 10 * 10**18  # LegacyDec wire form of 10 uallo/gas


async def test_topic_and_nonce_lifecycle(devnet: Devnet, client: Any, worker_key: Key) -> None:
    topic = (await client.emissions.get_topic(GetTopicRequest(topic_id=TOPIC))).topic
    assert (topic.epoch_length, topic.worker_submission_window, topic.loss_method) == (EPOCH, WINDOW, "zptae")
    with pytest.raises(GRPCError) as err:
        await client.emissions.get_topic(GetTopicRequest(topic_id=9999))
    assert err.value.status == Status.NOT_FOUND

    async def nonces() -> list[int]:
        resp = await client.emissions.get_unfulfilled_worker_nonces(
            GetUnfulfilledWorkerNoncesRequest(topic_id=TOPIC)
        )
        return [n.block_height for n in resp.nonces.nonces]

    assert await nonces() == []  # between windows: empty, not an error
    await devnet.advance_blocks(EPOCH - 1)  # height 5 = epoch start
    assert await nonces() == [5]
    status = await client.emissions.get_worker_submission_window_status(
        GetWorkerSubmissionWindowStatusRequest(topic_id=TOPIC, address=worker_key.address)
    )
    assert status.is_open and status.window_start_block == 5 and status.window_end_block == 5 + WINDOW
    assert status.is_registered and status.is_whitelisted and status.next_window_start_block == 10
    unfulfilled = await client.emissions.is_worker_nonce_unfulfilled(
        IsWorkerNonceUnfulfilledRequest(topic_id=TOPIC, block_height=5)
    )
    assert unfulfilled.is_worker_nonce_unfulfilled
    await devnet.advance_blocks(WINDOW)  # height 8: window [5, 8] ends
    assert await nonces() == []
    await devnet.advance_blocks(2)  # height 10: next epoch
    assert await nonces() == [10]
    assert devnet.state.windows_opened()[TOPIC] == 2
    reg = await client.emissions.is_worker_registered_in_topic_id(
        IsWorkerRegisteredInTopicIdRequest(topic_id=TOPIC, address=worker_key.address)
    )
    assert reg.is_registered
    can = await client.emissions.can_submit_worker_payload(
        CanSubmitWorkerPayloadRequest(topic_id=TOPIC, address=worker_key.address)
    )
    assert can.can_submit_worker_payload


async def test_accepted_payload_is_included_and_recorded(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any
) -> None:
    nonce = await nonce_opener(devnet)
    before = await client.balance(worker_key)
    tx_bytes = await client.make_tx(worker_key, [payload_msg(worker_key, TOPIC, nonce, "0.0123")])

    sim = await client.tx.simulate(SimulateRequest(tx_bytes=tx_bytes))
    assert 0 < sim.gas_info.gas_used < 300_000

    checked = await client.broadcast(tx_bytes)
    assert checked.code == 0 and checked.height == 0
    assert checked.txhash == hashlib.sha256(tx_bytes).hexdigest().upper()
    # Sequence bumps in the mempool at CheckTx; committed state (queries) moves at inclusion.
    assert devnet.state.check_sequence(worker_key.address) == 1
    assert (await client.info(worker_key)).sequence == 0
    with pytest.raises(GRPCError) as err:
        await client.tx.get_tx(GetTxRequest(hash=checked.txhash))
    assert err.value.status == Status.NOT_FOUND and "tx not found" in err.value.message

    await devnet.advance_blocks(1)
    got = (await client.tx.get_tx(GetTxRequest(hash=checked.txhash))).tx_response
    assert (got.code, got.height, got.txhash) == (0, devnet.height, checked.txhash)
    info = await client.info(worker_key)
    assert info.sequence == 1 and info.pub_key is not None
    fee = 300_000 * 10
    assert await client.balance(worker_key) == before - fee - devnet.config.data_sending_fee
    [rec] = devnet.accepted_inferences(TOPIC)
    assert (rec.topic_id, rec.nonce, rec.worker, rec.value, rec.height, rec.txhash) == (
        TOPIC,
        nonce,
        worker_key.address,
        "0.0123",
        devnet.height,
        checked.txhash,
    )
    assert devnet.accepted_inferences(topic_id=1) == []


async def test_register_then_submit(
    devnet: Devnet, client: Any, stranger_key: Key, nonce_opener: Any
) -> None:
    got = await client.deliver(stranger_key, [register_msg(stranger_key, TOPIC)])
    assert got.code == 0
    assert stranger_key.address in devnet.state.topic(TOPIC).workers
    nonce = await nonce_opener(devnet)
    got = await client.deliver(stranger_key, [payload_msg(stranger_key, TOPIC, nonce, "-1.5")])
    assert got.code == 0, got.raw_log
    assert [i.value for i in devnet.accepted_inferences(TOPIC)] == ["-1.5"]


async def test_two_txs_in_one_block_use_consecutive_sequences(
    devnet: Devnet, client: Any, worker_key: Key, stranger_key: Key, nonce_opener: Any
) -> None:
    await client.deliver(stranger_key, [register_msg(stranger_key, TOPIC)])
    nonce = await nonce_opener(devnet)
    first = await client.send(worker_key, [payload_msg(worker_key, TOPIC, nonce)], sequence=0)
    # A second tx signed with the same sequence is what a client reading committed state would send.
    again = await client.send(worker_key, [register_msg(worker_key, TOPIC)], sequence=0)
    second = await client.send(worker_key, [register_msg(worker_key, TOPIC)], sequence=1)
    assert (first.code, second.code) == (0, 0)
    assert again.code == 32
    await devnet.advance_blocks(1)
    assert (await client.info(worker_key)).sequence == 2


async def test_registering_twice_fails_in_the_block_with_8(devnet: Devnet, client: Any, stranger_key: Key) -> None:
    # msg_server_registrations.go: ErrAddressAlreadyRegisteredInATopic (emissions 8), fee paid.
    assert (await client.deliver(stranger_key, [register_msg(stranger_key, TOPIC)])).code == 0
    again = await client.deliver(stranger_key, [register_msg(stranger_key, TOPIC)])
    assert (again.codespace, again.code) == ("emissions", 8)
    assert "already registered" in again.raw_log
    assert (await client.info(stranger_key)).sequence == 2
