"""Each fault mode, flipped at run time, observed through real gRPC calls."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from allora_sdk.rpc_client.protos.cosmos.base.tendermint.v1beta1 import (
    GetLatestBlockRequest,
    GetNodeInfoRequest,
)
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import GetTxRequest
from allora_sdk.rpc_client.protos.emissions.v10 import GetTopicRequest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet import Devnet, FaultPlan
from allora_worker.devnet.txbuild import Key, payload_msg, register_msg

TOPIC = 67


async def _outcomes(client: Any, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            await client.emissions.get_topic(GetTopicRequest(topic_id=TOPIC))
            out.append("ok")
        except GRPCError as err:
            out.append(err.status.name)
    return out


async def test_error_rate_is_per_method_and_deterministic_by_seed(devnet: Devnet, client: Any) -> None:
    devnet.set_faults(FaultPlan(seed=7, error_rate={"GetTopic": 0.5}))
    first = await _outcomes(client, 40)
    assert 5 < first.count("UNAVAILABLE") < 35 and first.count("ok") > 5
    # Other methods are untouched.
    assert (await client.tendermint.get_node_info(GetNodeInfoRequest())).default_node_info.network
    devnet.set_faults(FaultPlan(seed=7, error_rate={"GetTopic": 0.5}))
    assert await _outcomes(client, 40) == first
    devnet.set_faults(FaultPlan(seed=7, error_rate={"*": 1.0}, error_status=Status.INTERNAL))
    assert set(await _outcomes(client, 3)) == {"INTERNAL"}
    devnet.faults.error_rate.clear()  # flipped off mid-run
    assert await _outcomes(client, 3) == ["ok"] * 3
    assert devnet.injector.injected["error"] >= 8


async def test_added_latency(devnet: Devnet, client: Any) -> None:
    devnet.faults.latency["emissions.v10.QueryService"] = 0.2
    start = time.monotonic()
    await client.emissions.get_topic(GetTopicRequest(topic_id=TOPIC))
    assert time.monotonic() - start >= 0.2
    assert devnet.injector.injected.get("latency") == 1
    # Another service is not delayed: counted, not timed (a loaded machine can take 0.2 s anyway).
    await client.tendermint.get_latest_block(GetLatestBlockRequest())
    assert devnet.injector.injected.get("latency") == 1


async def test_blackhole_never_answers_until_lifted(devnet: Devnet, client: Any) -> None:
    devnet.faults.blackhole.add("GetLatestBlock")
    with pytest.raises(asyncio.TimeoutError):
        await client.tendermint.get_latest_block(GetLatestBlockRequest(), timeout=0.3)
    assert devnet.injector.injected["blackhole"] == 1
    devnet.faults.blackhole.clear()
    assert (await client.tendermint.get_latest_block(GetLatestBlockRequest(), timeout=2)).sdk_block


async def test_unavailable_by_block_range(devnet: Devnet, client: Any) -> None:
    devnet.faults.unavailable_blocks.append((3, 4))
    assert await _outcomes(client, 1) == ["ok"]
    await devnet.advance_blocks(2)  # height 3
    assert await _outcomes(client, 2) == ["UNAVAILABLE"] * 2
    await devnet.advance_blocks(2)  # height 5
    assert await _outcomes(client, 1) == ["ok"]


async def test_unavailable_for_wall_time(devnet: Devnet, client: Any) -> None:
    devnet.faults.unavailable_for(0.3)
    assert await _outcomes(client, 1) == ["UNAVAILABLE"]
    await asyncio.sleep(0.35)
    assert await _outcomes(client, 1) == ["ok"]


async def test_mempool_full(devnet: Devnet, client: Any, worker_key: Key) -> None:
    devnet.faults.mempool_full = True
    resp = await client.send(worker_key, [register_msg(worker_key, TOPIC)])
    assert (resp.codespace, resp.code, resp.raw_log) == ("sdk", 20, "mempool is full")
    assert devnet.state.check_sequence(worker_key.address) == 0
    devnet.faults.mempool_full = False
    assert (await client.send(worker_key, [register_msg(worker_key, TOPIC)])).code == 0


async def test_accepted_tx_never_included(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any
) -> None:
    nonce = await nonce_opener(devnet)
    devnet.faults.drop_txs = 1
    lost = await client.send(worker_key, [payload_msg(worker_key, TOPIC, nonce)])
    assert lost.code == 0  # CheckTx passed; sequence taken in the mempool
    assert devnet.state.check_sequence(worker_key.address) == 1
    await devnet.advance_blocks(2)
    with pytest.raises(GRPCError) as err:
        await client.tx.get_tx(GetTxRequest(hash=lost.txhash))
    assert err.value.status == Status.NOT_FOUND
    # After the commit the mempool view falls back to the committed sequence: the retry uses 0 again.
    assert (await client.info(worker_key)).sequence == 0
    assert devnet.state.check_sequence(worker_key.address) == 0
    retry = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce)])
    assert retry.code == 0 and len(devnet.accepted_inferences()) == 1
    assert devnet.state.counters["txs_dropped"] == 1


async def test_external_tx_bumps_sequence(devnet: Devnet, client: Any, worker_key: Key) -> None:
    assert devnet.bump_sequence(worker_key.address) == 1
    assert (await client.info(worker_key)).sequence == 1
    stale = await client.send(worker_key, [register_msg(worker_key, TOPIC)], sequence=0)
    assert stale.code == 32
    assert stale.raw_log == "account sequence mismatch, expected 1, got 0: incorrect account sequence"
    # A tx already in the mempool whose sequence is taken by an external tx is evicted, never included.
    pending = await client.send(worker_key, [register_msg(worker_key, TOPIC)], sequence=1)
    assert pending.code == 0
    devnet.bump_sequence(worker_key.address)
    await devnet.advance_blocks(1)
    with pytest.raises(GRPCError):
        await client.tx.get_tx(GetTxRequest(hash=pending.txhash))
    assert (await client.info(worker_key)).sequence == 2
