"""Starting the devnet: thread-backed API for sync code, start time, the CLI command."""

from __future__ import annotations

import asyncio
import time

from allora_sdk.rpc_client.protos.cosmos.base.tendermint.v1beta1 import GetNodeInfoRequest, ServiceStub
from grpclib.client import Channel
from typer.testing import CliRunner

from allora_worker.cli import app
from allora_worker.devnet import Devnet, DevnetConfig, DevnetThread, topic_67
from allora_worker.devnet.txbuild import Key, build_tx, payload_msg, register_msg


def test_devnet_thread_for_sync_code() -> None:
    key = Key.from_seed("thread-worker")
    config = DevnetConfig(block_time=0.03, accounts={key.address: 10**18}, topics=[topic_67(4, 3)])
    start = time.monotonic()
    with DevnetThread(config) as dn:
        # Seconds, not minutes (a tenth of a second when idle); the margin holds on a loaded machine.
        assert time.monotonic() - start < 5.0
        assert dn.endpoint.startswith("127.0.0.1:") and dn.port > 0
        h = dn.wait_for_height(6, timeout=5)
        assert h >= 6 and dn.state.windows_opened()[67] >= 1
        # Drive a register + payload from this (non-loop) thread through the state API.
        acc = dn.state.account(key.address)
        assert acc is not None
        dn.state.check_tx(
            build_tx(
                key, [register_msg(key, 67)], chain_id=config.chain_id, account_number=acc.number, sequence=0
            )
        )
        dn.wait_for_height(dn.height + 1)
        nonce = dn.state.unfulfilled_nonces(67)
        while not nonce or dn.height >= nonce[0] + 2:  # leave a block of the window for inclusion
            dn.wait_for_height(dn.height + 1)
            nonce = dn.state.unfulfilled_nonces(67)
        dn.state.check_tx(
            build_tx(
                key,
                [payload_msg(key, 67, nonce[0])],
                chain_id=config.chain_id,
                account_number=acc.number,
                sequence=1,
            )
        )
        dn.wait_for_height(dn.height + 1)
        assert [i.worker for i in dn.accepted_inferences(67)] == [key.address]
        assert dn.bump_sequence(key.address) == 3
        dn.faults.mempool_full = True
        assert dn.faults is dn.state.faults.plan  # type: ignore[union-attr]
    assert dn.devnet is None


async def test_async_start_is_fast_and_loopback_only() -> None:
    start = time.monotonic()
    async with Devnet(DevnetConfig(block_time=0.05)) as dn:
        elapsed = time.monotonic() - start
        assert elapsed < 5.0  # a tenth of a second when idle; the margin holds on a loaded machine
        channel = Channel("127.0.0.1", dn.port)
        info = await ServiceStub(channel).get_node_info(GetNodeInfoRequest())
        channel.close()
        assert info.default_node_info.network == "allora-devnet-1"
        # The block clock runs: wait for it (event-driven), not for a fixed 0.2 s.
        deadline = time.monotonic() + 10
        while dn.height < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert dn.height >= 3
    try:
        DevnetConfig(host="0.0.0.0")
    except ValueError:
        pass
    else:
        raise AssertionError("non-loopback host accepted")


def test_cli_devnet_command_runs_for_a_duration() -> None:
    key = Key.from_seed("cli")
    result = CliRunner().invoke(
        app,
        [
            "devnet",
            "--port",
            "0",
            "--block-time",
            "0.05",
            "--duration",
            "0.3",
            "--fund",
            f"{key.address}=1000",
            "--register",
            f"67:{key.address}",
            "--epoch-length",
            "3",
            "--window",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "READY grpc+http://127.0.0.1:" in result.output
    bad = CliRunner().invoke(app, ["devnet", "--fund", "nonsense", "--duration", "0.1"])
    assert bad.exit_code != 0
