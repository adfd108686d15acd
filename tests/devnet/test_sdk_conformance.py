"""The official allora-sdk, unchanged, against the devnet: its client and its AlloraWorker loop.

What cannot work offline and is left out: the SDK's websocket event subscription (the devnet
serves gRPC only; the worker is pointed at a closed loopback port, logs connection errors, and
falls back to its polling loop, which is what submits) and the testnet faucet (skipped by the SDK
itself for any chain id other than allora-testnet-1).
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
from collections.abc import Iterator

import pytest
from allora_sdk.rpc_client.client import AlloraRPCClient
from allora_sdk.rpc_client.config import AlloraNetworkConfig, AlloraWalletConfig
from allora_sdk.rpc_client.protos.emissions.v10 import (
    GetUnfulfilledWorkerNoncesRequest,
    InputLabeledValue,
    IsWorkerRegisteredInTopicIdRequest,
)
from allora_sdk.worker.inferer import SanityCheckConfig
from allora_sdk.worker.types import WorkerResult
from allora_sdk.worker.worker import AlloraWorker

from allora_worker.devnet import Devnet, DevnetConfig, topic_67
from allora_worker.devnet.txbuild import Key

MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
ADDRESS = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"


def _closed_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _network(dn: Devnet) -> AlloraNetworkConfig:
    return AlloraNetworkConfig(
        chain_id=dn.config.chain_id,
        url=dn.grpc_url,
        websocket_url=f"ws://127.0.0.1:{_closed_loopback_port()}/websocket",
        faucet_url=None,
        fee_minimum_gas_price=dn.config.min_gas_price,
    )


@pytest.fixture
def restore_signals() -> Iterator[None]:
    # AlloraWorker.run installs SIGINT/SIGTERM handlers; give pytest its own back.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _config(**kw: object) -> DevnetConfig:
    return DevnetConfig(
        block_time=0.1, accounts={ADDRESS: 10**21}, topics=[topic_67(epoch_length=10, window=8)], **kw
    )


@pytest.mark.integration
async def test_sdk_client_registers_and_submits() -> None:
    assert Key.from_mnemonic(MNEMONIC).address == ADDRESS
    async with Devnet(_config()) as dn:
        client = AlloraRPCClient(wallet=AlloraWalletConfig(mnemonic=MNEMONIC), network=_network(dn))
        try:
            assert await client.raise_for_chain_id_mismatch() == "allora-devnet-1"
            pending = await client.emissions.tx.register(
                topic_id=67, owner_addr=ADDRESS, sender_addr=ADDRESS, is_reputer=False
            )
            registered = await pending.wait()
            assert registered.code == 0 and registered.height > 0
            reg = await client.emissions.query.is_worker_registered_in_topic_id(
                IsWorkerRegisteredInTopicIdRequest(topic_id=67, address=ADDRESS)
            )
            assert reg.is_registered
            nonce = 0
            while not nonce:
                resp = await client.emissions.query.get_unfulfilled_worker_nonces(
                    GetUnfulfilledWorkerNoncesRequest(topic_id=67)
                )
                nonce = resp.nonces.nonces[0].block_height if resp.nonces and resp.nonces.nonces else 0
                await asyncio.sleep(0.05)
            pending = await client.emissions.tx.insert_worker_payload(
                topic_id=67, inference_value=[InputLabeledValue(label="y", value="0.0123")], nonce=nonce
            )
            included = await pending.wait()
            assert included.code == 0, included.raw_log
            [rec] = dn.accepted_inferences(67)
            assert (rec.nonce, rec.worker, rec.value, rec.txhash) == (
                nonce,
                ADDRESS,
                "0.0123",
                included.txhash,
            )
            # The SDK simulated both txs for gas (and its estimate passed the devnet's gas check).
            assert dn.state.counters["simulations"] >= 2
        finally:
            await client.close()


@pytest.mark.integration
async def test_sdk_alloraworker_loop_submits(restore_signals: None) -> None:
    async with Devnet(_config()) as dn:
        worker = AlloraWorker.inferer(
            run=lambda ctx: 0.0042,
            wallet=AlloraWalletConfig(mnemonic=MNEMONIC),
            network=_network(dn),
            topic_id=67,
            polling_interval=1,
            sanity_check=SanityCheckConfig(enabled=True, throttle_interval_seconds=0),
            show_banner=False,
        )
        results = []
        async for result in worker.run(timeout=30):
            results.append(result)
            if isinstance(result, WorkerResult):
                worker.stop()
                break
        await worker.client.close()
        assert any(isinstance(r, WorkerResult) for r in results), results
        assert ADDRESS in dn.state.topic(67).workers  # registered itself through the devnet
        accepted = dn.accepted_inferences(67)
        assert accepted and accepted[0].value == "0.0042" and accepted[0].worker == ADDRESS


@pytest.mark.integration
async def test_sdk_on_a_v9_network() -> None:
    """A node serving emissions v9 (mainnet docs: v0.16.0): the SDK's tx machinery with its own v9
    classes registers and submits; its built-in payload call, hard-wired to v10, cannot."""
    from allora_sdk.rpc_client.protos.emissions import v3, v9

    async with Devnet(_config(emissions_version=9)) as dn:
        client = AlloraRPCClient(wallet=AlloraWalletConfig(mnemonic=MNEMONIC), network=_network(dn))
        try:
            txs = client.emissions.tx._txs
            assert txs is not None
            pending = await txs.submit_transaction(
                type_url="/emissions.v9.RegisterRequest",
                msgs=[v9.RegisterRequest(sender=ADDRESS, topic_id=67, owner=ADDRESS, is_reputer=False)],
            )
            assert (await pending.wait()).code == 0
            while not dn.state.unfulfilled_nonces(67):
                await asyncio.sleep(0.05)
            nonce = dn.state.unfulfilled_nonces(67)[0]
            # The SDK's own payload call (v10 type URL) is refused at CheckTx by a v9 node.
            refused = dn.state.counters["txs_rejected"]
            doomed = await client.emissions.tx.insert_worker_payload(
                topic_id=67, inference_value=[InputLabeledValue(label="y", value="0.5")], nonce=nonce
            )
            with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own classes, or times out
                await asyncio.wait_for(doomed.wait(), 5)
            assert dn.state.counters["txs_rejected"] > refused
            assert dn.accepted_inferences(67) == []
            # A fresh window for the v9 payload (the refusal above may have taken a while).
            await dn.wait_for_height((dn.height // 10 + 1) * 10)
            nonce = dn.state.unfulfilled_nonces(67)[0]
            bundle = v9.InputInferenceForecastBundle(
                inference=v9.InputInference(topic_id=67, block_height=nonce, inferer=ADDRESS, value="0.0123")
            )
            wallet = client.wallet
            assert wallet is not None
            signature = wallet.signer().sign_digest(hashlib.sha256(bytes(bundle)).digest())
            msg = v9.InsertWorkerPayloadRequest(
                sender=ADDRESS,
                worker_data_bundle=v9.InputWorkerDataBundle(
                    worker=ADDRESS, nonce=v3.Nonce(block_height=nonce), topic_id=67,
                    inference_forecasts_bundle=bundle, inferences_forecasts_bundle_signature=signature,
                    pubkey=wallet.public_key().public_key_hex,
                ),
            )
            pending = await txs.submit_transaction(type_url="/emissions.v9.InsertWorkerPayloadRequest", msgs=[msg])
            included = await pending.wait()
            assert included.code == 0, included.raw_log
            [rec] = dn.accepted_inferences(67)
            assert (rec.nonce, rec.value, rec.txhash) == (nonce, "0.0123", included.txhash)
        finally:
            await client.close()
