"""GetTxsEvent (cosmos-sdk v0.50 x/auth/tx/service.go; devnet/txsearch.py): a sender's landed txs,
the query `journal recover` asks."""

from __future__ import annotations

from typing import Any

import pytest
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import GetTxsEventRequest, OrderBy
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet import Devnet
from allora_worker.devnet.txbuild import Key, payload_msg

from .conftest import TOPIC, WINDOW


async def test_txs_by_sender_lists_its_successful_txs_with_height_and_paging(
    devnet: Devnet, client: Any, worker_key: Key, stranger_key: Key, nonce_opener: Any
) -> None:
    first = await nonce_opener(devnet)
    landed = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, first)])
    assert landed.code == 0, landed.raw_log
    await devnet.advance_blocks(WINDOW)
    # A tx whose message failed in the block (closed window, 75) loses its message events.
    failed = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, first)])
    assert failed.code != 0
    second = await nonce_opener(devnet)
    later = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, second)])
    assert later.code == 0, later.raw_log

    query = f"message.sender='{worker_key.address}'"
    resp = await client.tx.get_txs_event(GetTxsEventRequest(query=query))
    assert resp.total == 2
    assert [(r.txhash, r.height, r.code) for r in resp.tx_responses] == [
        (landed.txhash, landed.height, 0), (later.txhash, later.height, 0)]
    bundle = payload_from(resp.txs[0])
    assert (bundle.topic_id, bundle.nonce.block_height, bundle.worker) == (TOPIC, first, worker_key.address)

    newest = await client.tx.get_txs_event(GetTxsEventRequest(query=query, order_by=OrderBy.DESC, limit=1))
    assert [r.txhash for r in newest.tx_responses] == [later.txhash] and newest.total == 2
    page2 = await client.tx.get_txs_event(GetTxsEventRequest(query=query, page=2, limit=1))
    assert [r.txhash for r in page2.tx_responses] == [later.txhash]
    ranged = await client.tx.get_txs_event(
        GetTxsEventRequest(query=f"{query} AND tx.height>{landed.height}"))
    assert [r.txhash for r in ranged.tx_responses] == [later.txhash]
    by_hash = await client.tx.get_txs_event(GetTxsEventRequest(query=f"tx.hash='{failed.txhash}'"))
    assert [r.code for r in by_hash.tx_responses] == [failed.code]  # still indexed by height and hash
    other = await client.tx.get_txs_event(GetTxsEventRequest(query=f"message.sender='{stranger_key.address}'"))
    assert other.total == 0 and not other.tx_responses

    with pytest.raises(GRPCError) as empty:
        await client.tx.get_txs_event(GetTxsEventRequest(query=""))
    assert empty.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(GRPCError) as beyond:
        await client.tx.get_txs_event(GetTxsEventRequest(query=query, page=3, limit=1))
    assert "page should be within [1, 2] range, given 3" in str(beyond.value.message)


def payload_from(tx: Any) -> Any:
    from allora_sdk.rpc_client.protos.emissions.v10 import InsertWorkerPayloadRequest

    [message] = tx.body.messages
    assert message.type_url == "/emissions.v10.InsertWorkerPayloadRequest"
    return InsertWorkerPayloadRequest().parse(message.value).worker_data_bundle
