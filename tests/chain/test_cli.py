"""`allora-worker register` and `allora-worker wallet balance` against a devnet in a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from allora_worker.cli import app
from allora_worker.devnet.config import DevnetConfig, TopicConfig
from allora_worker.devnet.server import DevnetThread

from ..conftest import TEST_ADDRESS, TEST_MNEMONIC

pytestmark = pytest.mark.integration


@pytest.fixture()
def devnet() -> Iterator[DevnetThread]:
    config = DevnetConfig(block_time=0.1, accounts={TEST_ADDRESS: 10**20},
                          topics=[TopicConfig(id=67, epoch_length=20, worker_submission_window=10)])
    with DevnetThread(config) as dn:
        yield dn


def _run(devnet: DevnetThread, *args: str, chain_id: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--grpc", devnet.grpc_url, "--chain-id", chain_id or devnet.config.chain_id],
        env={"MNEMONIC": TEST_MNEMONIC},
    )
    return result.exit_code, result.output


def test_wallet_balance(devnet: DevnetThread) -> None:
    code, out = _run(devnet, "wallet", "balance")
    assert code == 0, out
    assert TEST_ADDRESS in out and "100000000000000000000 uallo (100 ALLO)" in out
    assert TEST_MNEMONIC not in out


def test_register_then_already_registered(devnet: DevnetThread) -> None:
    code, out = _run(devnet, "register", "--topic", "67")
    assert code == 0 and "registered" in out and "tx " in out, out
    assert TEST_ADDRESS in devnet.state.topic(67).workers
    code, out = _run(devnet, "register", "--topic", "67")
    assert code == 0 and "already registered" in out, out


def test_wrong_chain_id_and_unknown_topic_fail_clearly(devnet: DevnetThread) -> None:
    code, out = _run(devnet, "wallet", "balance", chain_id="allora-testnet-1")
    assert code == 1 and "allora-testnet-1" in out and "node serves" in out
    code, out = _run(devnet, "register", "--topic", "999")
    assert code == 1 and "topic 999 does not exist" in out
