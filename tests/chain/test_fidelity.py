"""Real-chain fidelity of the client: DeliverTx semantics, whitelist, admission, emissions versions.

Each test runs the real client against the devnet, whose rules follow allora-chain's source (see
docs/PROTOCOL.md for the rule table).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from allora_worker.chain import errors as E
from allora_worker.chain.client import ChainClient
from allora_worker.chain.wallet import Wallet
from allora_worker.devnet import Devnet, DevnetConfig, TopicConfig
from allora_worker.journal import NOT_ADMITTED, REJECTED, Journal
from allora_worker.worker.reconcile import submit_journaled

from .conftest import FUNDS, new_wallet

TOPIC = 67


@dataclass(frozen=True)
class LyingWallet(Wallet):
    """Signs with its own key but puts another key in the worker bundle: the chain's bundle Validate
    (validations.go) refuses it in the block with sdk/4, after the fee is taken."""

    other_pubkey_hex: str = ""

    @property
    def public_key_hex(self) -> str:
        return self.other_pubkey_hex


Make = Callable[..., "asyncio.Future[tuple[Devnet, ChainClient]]"]


@pytest.fixture()
async def chain() -> AsyncIterator[Callable[..., object]]:
    """`await chain(wallet, topic=..., **devnet_config)` -> (devnet, client); all closed after the test."""
    opened: list[tuple[Devnet, ChainClient]] = []

    async def make(wallet: Wallet, topic: TopicConfig | None = None, **config: object) -> tuple[Devnet, ChainClient]:
        topic = topic or TopicConfig(id=TOPIC, epoch_length=40, worker_submission_window=35, epoch_offset=2)
        cfg = DevnetConfig(block_time=0.1, topics=[topic], accounts={wallet.address: FUNDS},
                           registered_workers=[(topic.id, wallet.address)], **config)  # type: ignore[arg-type]
        devnet = Devnet(cfg)
        await devnet.start()
        client = ChainClient([devnet.grpc_url], cfg.chain_id, wallet, call_timeout_s=2.0, confirm_timeout_s=5.0,
                             poll_interval_s=0.05, backoff_s=0.05)
        opened.append((devnet, client))
        if cfg.auto_blocks:
            await devnet.wait_for_height(3)
        else:
            await devnet.advance_blocks(3)
        return devnet, client

    yield make
    for devnet, client in opened:
        client.close()
        await devnet.stop()


async def _open_nonce(client: ChainClient) -> int:
    for _ in range(100):
        nonces = await client.open_nonces(TOPIC)
        if nonces:
            return nonces[-1]
        await asyncio.sleep(0.1)
    raise AssertionError("no open nonce")


async def test_a_payload_the_block_would_reject_is_never_broadcast(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    honest = new_wallet()
    liar = LyingWallet(honest.address, honest.public_key, honest._key, other_pubkey_hex=new_wallet().public_key_hex)
    devnet, client = await chain(liar)
    nonce = await _open_nonce(client)
    before = devnet.state.account(liar.address).balance  # type: ignore[union-attr]
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.claim(TOPIC, nonce)
        entry = await submit_journaled(client, journal, TOPIC, nonce, "0.01")
        assert entry.state == REJECTED
        # A simulation's verdict arrives as gRPC text (no codespace): the words are the chain's.
        assert "WouldFail" in (entry.error or "") and "does not match pubkey" in (entry.error or "")
        assert "unauthorized" in (entry.error or "")
    # Fees spent: 0. Nothing reached the mempool; the account's sequence never moved.
    assert devnet.state.account(liar.address).balance == before  # type: ignore[union-attr]
    assert devnet.state.counters["txs_seen"] == 0
    assert devnet.state.account(liar.address).sequence == 0  # type: ignore[union-attr]


async def test_not_whitelisted_is_a_topic_fatal_caught_by_simulation(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wallet = new_wallet()
    topic = TopicConfig(id=TOPIC, epoch_length=40, worker_submission_window=35, epoch_offset=2,
                        worker_whitelist=["allo1someoneelse"])
    devnet, client = await chain(wallet, topic)
    assert await client.can_submit(TOPIC) is False
    nonce = await _open_nonce(client)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.claim(TOPIC, nonce)
        with pytest.raises(E.TopicFatal, match="not permitted to submit payload"):
            await submit_journaled(client, journal, TOPIC, nonce, "0.01")
        assert journal.get(TOPIC, nonce).state == REJECTED  # type: ignore[union-attr]
    assert devnet.state.counters["txs_seen"] == 0


def test_the_chain_whitelist_text_classifies_as_not_whitelisted() -> None:
    # As DeliverTx reports it (codespace emissions; the number is not relied upon).
    err = E.classify("emissions", 92, "failed to execute message; message index: 0: Worker is not permitted "
                     "to submit payload: not permitted to submit payload")
    assert isinstance(err, E.NotWhitelisted) and isinstance(err, E.TopicFatal)
    dup = E.classify("undefined", 1, "failed to execute message; message index: 0: inference already submitted")
    assert isinstance(dup, E.AlreadySubmitted)
    assert isinstance(E.classify("emissions", 8, "worker is already registered in this topic: address already "
                                 "registered in a topic"), E.AlreadyRegistered)
    assert isinstance(E.classify("sdk", 2, "unable to resolve type URL /emissions.v9.InsertWorkerPayloadRequest: "
                                 "tx parse error"), E.VersionMismatch)


async def test_code_0_without_admission_is_journaled_not_admitted(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wallet = new_wallet()
    topic = TopicConfig(id=TOPIC, epoch_length=40, worker_submission_window=35, epoch_offset=2,
                        max_active_inferers=2, rivals={"allo1rivala": 0.9, "allo1rivalb": 0.8},
                        ema_scores={wallet.address: 0.1})
    devnet, client = await chain(wallet, topic)
    nonce = await _open_nonce(client)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.claim(TOPIC, nonce)
        entry = await submit_journaled(client, journal, TOPIC, nonce, "0.01")
        assert entry.state == NOT_ADMITTED
        assert entry.txhash and devnet.state.tx_result(entry.txhash).code == 0  # type: ignore[union-attr]
        assert "our EMA score 0.1 vs the active set's lowest 0.8" in (entry.error or "")
        # Terminal: the window is not tried again (a second try would only meet code 78).
        assert journal.claim(TOPIC, nonce) is None
    assert devnet.accepted_inferences(TOPIC) == []


async def test_admitted_when_our_score_beats_the_lowest(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wallet = new_wallet()
    topic = TopicConfig(id=TOPIC, epoch_length=40, worker_submission_window=35, epoch_offset=2,
                        max_active_inferers=1, rivals={"allo1rivala": 0.3}, ema_scores={wallet.address: 0.5})
    devnet, client = await chain(wallet, topic)
    nonce = await _open_nonce(client)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.claim(TOPIC, nonce)
        assert (await submit_journaled(client, journal, TOPIC, nonce, "0.01")).state == "confirmed"
    assert [i.worker for i in devnet.accepted_inferences(TOPIC)] == [wallet.address]


@pytest.mark.parametrize("version", [9, 10])
async def test_the_client_speaks_the_version_the_node_serves(chain, version: int) -> None:  # type: ignore[no-untyped-def]
    wallet = new_wallet()
    devnet, client = await chain(wallet, emissions_version=version)
    assert (await client.negotiate()).version == version
    nonce = await _open_nonce(client)
    result = await client.submit(TOPIC, nonce, "0.0123")
    tx = devnet.state.tx_result(result.txhash)
    assert tx is not None and tx.code == 0
    assert tx.tx.msgs[0][0] == f"/emissions.v{version}.InsertWorkerPayloadRequest"
    assert [i.value for i in devnet.accepted_inferences(TOPIC)] == ["0.0123"]


@pytest.mark.parametrize("version", [8, 3])
async def test_an_unsupported_version_is_named(chain, version: int) -> None:  # type: ignore[no-untyped-def]
    # v1-v3 name their parameters query `Query/Params`, not `QueryService/GetParams`: asked by the
    # later name, a v3 node was reported as serving no version at all.
    _devnet, client = await chain(new_wallet(), emissions_version=version)
    with pytest.raises(E.UnsupportedVersionError, match=f"serves emissions v{version}, which this worker does not"):
        await client.negotiate()


async def _submit_in_next_block(devnet: Devnet, client: ChainClient, nonce: int, value: str) -> str:
    """Submit on a devnet without a block clock: produce the block once the tx is in the mempool."""
    submitting = asyncio.create_task(client.submit(TOPIC, nonce, value))
    for _ in range(500):
        if devnet.state.mempool or submitting.done():
            break
        await asyncio.sleep(0.01)
    await devnet.advance_blocks(1)
    return (await asyncio.wait_for(submitting, 10)).txhash


async def test_an_upgrade_mid_run_is_followed(chain) -> None:  # type: ignore[no-untyped-def]
    wallet = new_wallet()
    devnet, client = await chain(wallet, emissions_version=9, upgrade_height=25, auto_blocks=False)
    first = await _open_nonce(client)
    assert client.emissions is not None and client.emissions.version == 9
    before = await _submit_in_next_block(devnet, client, first, "0.1")
    assert devnet.state.tx_result(before).tx.msgs[0][0].startswith("/emissions.v9.")  # type: ignore[union-attr]
    await devnet.advance_blocks(42 - devnet.height)  # through the upgrade at 25, to the next window
    assert devnet.state.emissions_version == 10
    nonces = await client.open_nonces(TOPIC)  # v9 answers UNIMPLEMENTED -> re-probe -> v10
    assert client.emissions.version == 10 and nonces[-1] == 42
    after = await _submit_in_next_block(devnet, client, 42, "0.2")
    assert devnet.state.tx_result(after).tx.msgs[0][0].startswith("/emissions.v10.")  # type: ignore[union-attr]
    assert [(i.nonce, i.value) for i in devnet.accepted_inferences(TOPIC)] == [(first, "0.1"), (42, "0.2")]


async def test_a_message_of_the_old_version_is_rebuilt_after_an_upgrade(chain) -> None:  # type: ignore[no-untyped-def]
    # The client still believes v9 when the chain has upgraded: CheckTx says "unable to resolve
    # type URL"; the client probes, rebuilds the message as v10 and lands it.
    wallet = new_wallet()
    devnet, client = await chain(wallet, emissions_version=9, upgrade_height=25, auto_blocks=False)
    await client.negotiate()
    await devnet.advance_blocks(42 - devnet.height)
    assert client.emissions is not None and client.emissions.version == 9
    txhash = await _submit_in_next_block(devnet, client, 42, "0.3")
    assert client.emissions.version == 10
    assert devnet.state.tx_result(txhash).code == 0  # type: ignore[union-attr]


async def test_the_tx_carries_the_windows_end_as_its_timeout_height(chain) -> None:  # type: ignore[no-untyped-def]
    from allora_worker.chain.protos import TxBody, TxRaw

    wallet = new_wallet()
    devnet, client = await chain(wallet, auto_blocks=False)
    first = await _open_nonce(client)
    async with client.allocator.lock:
        signed = await client.prepare(TOPIC, first, "0.5")
    # One nonce does not show whether the topic counts blocks or seconds: no timeout height
    # rather than one that could refuse the tx inside its own window.
    assert TxBody.parse(TxRaw.parse(signed.tx_bytes).body_bytes).timeout_height == 0
    await devnet.advance_blocks(first + 40 - devnet.height)
    nonce = await _open_nonce(client)  # 40 blocks after the first: blocks
    assert nonce == first + 40 and client.timing(TOPIC).unit == "blocks"  # type: ignore[union-attr]
    async with client.allocator.lock:
        signed = await client.prepare(TOPIC, nonce, "0.5")
    assert TxBody.parse(TxRaw.parse(signed.tx_bytes).body_bytes).timeout_height == nonce + 35
    # Held back until its window has passed, the tx is refused by the ante handler (sdk/30),
    # which the client reads as a closed window; it can never reach a block.
    await devnet.advance_blocks(nonce + 35 - devnet.height)
    with pytest.raises(E.WindowClosed, match="timeout height"):
        await client.broadcast(signed)
    assert devnet.state.mempool == []


def test_the_label_follows_the_topics_output_arity() -> None:
    from allora_worker.chain.emissions import ADAPTERS, UnsupportedTopic
    from allora_worker.chain.protos import emissions_v10

    v10 = ADAPTERS[10]
    arity = emissions_v10.TopicOutputArity
    single = emissions_v10.Topic(id=67, output_arity=arity.SINGLE, max_labels_per_submission=1)
    assert v10.check_topic(single) == "one value labeled 'y'"
    inference = v10.inference(single, 67, 10, "allo1x", "0.5")
    assert [(v.label, v.value) for v in inference.values] == [("y", "0.5")] and inference.value == "0"
    only_y = emissions_v10.Topic(id=68, output_arity=arity.MULTI, max_labels_per_submission=3, label_whitelist=["y"])
    assert v10.check_topic(only_y) == "one value labeled 'y'"
    multi = emissions_v10.Topic(id=69, output_arity=arity.MULTI, max_labels_per_submission=2,
                                label_whitelist=["btc", "eth"])
    with pytest.raises(UnsupportedTopic, match=r"MULTI-output topic .*btc, eth"):
        v10.check_topic(multi)
    # v9 carries one unlabeled value.
    assert ADAPTERS[9].inference(None, 67, 10, "allo1x", "0.5").value == "0.5"


@pytest.mark.parametrize("version", [9, 10])
async def test_admission_after_the_window_closed_is_read_from_the_set_the_chain_kept(  # type: ignore[no-untyped-def]
        chain, version: int) -> None:
    # Once the window has closed the chain no longer holds anyone's inference for it (it cleared
    # them at close): the set it wrote under the nonce (GetInferencesAtBlock) says admitted or not.
    # Before: "not found" after close was reported unknown and journaled confirmed.
    wallet = new_wallet()
    topic = TopicConfig(id=TOPIC, epoch_length=40, worker_submission_window=35, epoch_offset=2,
                        max_active_inferers=1, rivals={"allo1rivala": 0.9}, ema_scores={wallet.address: 0.1})
    devnet, client = await chain(wallet, topic, auto_blocks=False, emissions_version=version)
    nonce = await _open_nonce(client)
    await _submit_in_next_block(devnet, client, nonce, "0.1")
    assert (await client.admission(TOPIC, nonce)).stored is False
    await devnet.advance_blocks(nonce + 36 - devnet.height)
    assert not await client.is_nonce_open(TOPIC, nonce)
    late = await client.admission(TOPIC, nonce)
    assert late.stored is False and late.our_score == 0.1 and late.lowest_score == 0.9


@pytest.mark.parametrize("version", [9, 10])
async def test_an_admitted_inference_is_found_in_the_closed_windows_set(chain, version: int) -> None:  # type: ignore[no-untyped-def]
    wallet = new_wallet()
    topic = TopicConfig(id=TOPIC, epoch_length=40, worker_submission_window=35, epoch_offset=2,
                        max_active_inferers=2, rivals={"allo1rivala": 0.9}, ema_scores={wallet.address: 0.1})
    devnet, client = await chain(wallet, topic, auto_blocks=False, emissions_version=version)
    nonce = await _open_nonce(client)
    await _submit_in_next_block(devnet, client, nonce, "0.1")
    assert (await client.admission(TOPIC, nonce)).stored is True  # held while the window is open
    await devnet.advance_blocks(nonce + 36 - devnet.height)
    assert not await client.is_nonce_open(TOPIC, nonce)
    assert (await client.admission(TOPIC, nonce)).stored is True  # now from the set kept at close
    # A window nobody filled keeps no set: unknown, never a false not_admitted.
    assert (await client.admission(TOPIC, nonce - 1)).stored is None


async def test_a_topic_timed_in_seconds_is_read_in_seconds(chain) -> None:  # type: ignore[no-untyped-def]
    # Scheduler-driven epochs (allora-chain dev branch): epoch_length and the window are seconds of
    # block time; the nonce is the height the epoch started at. The client reads the unit from the
    # nonces' spacing and signs a timeout height from the chain's own block time (was: nonce +
    # window read as blocks, here 2 blocks for a 2 s window of 0.1 s blocks).
    wallet = new_wallet()
    topic = TopicConfig(id=TOPIC, epoch_length=3, worker_submission_window=2, timing="seconds")
    devnet, client = await chain(wallet, topic)
    await client.topic(TOPIC)
    seen: list[int] = []
    for _ in range(400):  # two or three epochs: one gap may fit both readings (chain/timing.py)
        await client.latest_height()
        seen = sorted(set(seen) | set(await client.open_nonces(TOPIC)))
        timing = client.timing(TOPIC)
        if timing is not None and timing.known:
            break
        await asyncio.sleep(0.05)
    assert timing is not None and timing.known and timing.unit == "seconds", seen
    spb = client.clock.seconds_per_block
    assert spb is not None and 0.05 < spb < 0.5
    from allora_worker.chain.protos import TxBody, TxRaw

    nonce = seen[-1]
    signed = await client.prepare(TOPIC, nonce, "0.01")
    after = client.clock.seconds_per_block or spb  # the estimate may move while signing
    timeout = TxBody.parse(TxRaw.parse(signed.tx_bytes).body_bytes).timeout_height
    assert timeout in {nonce + math.ceil(2 / s) + 1 for s in (spb, after)}, (timeout, nonce, spb, after)
    # The devnet closes that window by block time, not by height (CheckWorkerSubmissionWindow).
    assert devnet.state.topic(TOPIC).open_nonces[nonce] > nonce + 1000
