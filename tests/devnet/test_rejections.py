"""Every rejection, pinned with a hand-built tx: CheckTx (sync broadcast) or DeliverTx (GetTx)."""

from __future__ import annotations

from typing import Any

import pytest

from allora_worker.devnet import Devnet, TopicConfig
from allora_worker.devnet.txbuild import Key, payload_msg, register_msg

TOPIC, EPOCH, WINDOW = 67, 5, 3


async def test_bad_tx_signature(devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any) -> None:
    nonce = await nonce_opener(devnet)
    resp = await client.send(
        worker_key, [payload_msg(worker_key, TOPIC, nonce)], signer_key=Key.from_seed("x")
    )
    assert (resp.codespace, resp.code) == ("sdk", 4)
    assert "signature verification failed" in resp.raw_log and "chain-id (allora-devnet-1)" in resp.raw_log
    assert devnet.state.check_sequence(worker_key.address) == 0  # a rejected tx takes no sequence


async def test_signature_for_another_chain_id_is_rejected(devnet: Devnet, worker_key: Key) -> None:
    from allora_worker.devnet import codes
    from allora_worker.devnet.txbuild import build_tx

    tx = build_tx(
        worker_key,
        [register_msg(worker_key, TOPIC)],
        chain_id="allora-testnet-1",
        account_number=0,
        sequence=0,
    )
    with pytest.raises(codes.TxFailure) as err:
        devnet.state.check_tx(tx)
    assert err.value.code == 4


async def test_wrong_sequence(devnet: Devnet, client: Any, worker_key: Key) -> None:
    resp = await client.send(worker_key, [register_msg(worker_key, TOPIC)], sequence=4)
    assert (resp.codespace, resp.code) == ("sdk", 32)
    assert resp.raw_log == "account sequence mismatch, expected 0, got 4: incorrect account sequence"
    assert resp.txhash  # the hash is reported even for a CheckTx failure


async def test_low_fee_out_of_gas_and_no_funds(devnet: Devnet, client: Any, worker_key: Key) -> None:
    msgs = [register_msg(worker_key, TOPIC)]
    low = await client.send(worker_key, msgs, gas_limit=200_000, fee_uallo=1_999_999)
    assert (low.codespace, low.code) == ("sdk", 13)
    assert low.raw_log == "insufficient fees; got: 1999999uallo required: 2000000uallo: insufficient fee"
    oog = await client.send(worker_key, msgs, gas_limit=5_000)
    assert (oog.codespace, oog.code) == ("sdk", 11) and "out of gas" in oog.raw_log
    poor = Key.from_seed("poor")
    devnet.fund(poor.address, 1_000)
    broke = await client.send(poor, [register_msg(poor, TOPIC)])
    assert (broke.codespace, broke.code) == ("sdk", 5) and "insufficient funds" in broke.raw_log
    unknown = Key.from_seed("never-funded")
    from allora_worker.devnet.txbuild import build_tx

    tx = build_tx(
        unknown, [register_msg(unknown, TOPIC)], chain_id="allora-devnet-1", account_number=0, sequence=0
    )
    resp = await client.broadcast(tx)
    assert (resp.codespace, resp.code) == ("sdk", 9)


async def test_duplicate_broadcast_and_garbage(devnet: Devnet, client: Any, worker_key: Key) -> None:
    tx = await client.make_tx(worker_key, [register_msg(worker_key, TOPIC)])
    assert (await client.broadcast(tx)).code == 0
    dup = await client.broadcast(tx)
    assert (dup.codespace, dup.code) == ("sdk", 19)
    junk = await client.broadcast(b"\xff\x00garbage")
    assert (junk.codespace, junk.code) == ("sdk", 2)


async def test_bad_bundle_signature_and_foreign_pubkey(
    devnet: Devnet, client: Any, worker_key: Key, stranger_key: Key, nonce_opener: Any
) -> None:
    # InputWorkerDataBundle.Validate runs in the message server (msg_server_worker_payload.go), so a
    # bad bundle passes CheckTx, fails in the block with the sdk codes validations.go uses, and
    # still pays its fee and uses its sequence.
    nonce = await nonce_opener(devnet)
    before = await client.balance(worker_key)
    forged = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, signing_key=stranger_key)])
    assert (forged.codespace, forged.code) == ("sdk", 4)
    assert "signature verification failed" in forged.raw_log
    assert await client.balance(worker_key) < before
    assert (await client.info(worker_key)).sequence == 1
    foreign = await client.deliver(
        worker_key,
        [
            payload_msg(
                worker_key, TOPIC, nonce, signing_key=stranger_key, pubkey_hex=stranger_key.pubkey.hex()
            )
        ],
    )
    assert (foreign.codespace, foreign.code) == ("sdk", 4)
    assert "does not match pubkey" in foreign.raw_log
    short = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, pubkey_hex="02ab")])
    assert (short.codespace, short.code) == ("sdk", 18)
    assert "invalid pubkey" in short.raw_log
    assert devnet.accepted_inferences() == []


async def test_topic_id_zero_is_reserved(devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any) -> None:
    nonce = await nonce_opener(devnet)
    got = await client.deliver(worker_key, [payload_msg(worker_key, 0, nonce)])
    assert (got.codespace, got.code) == ("sdk", 29)
    assert "topic id zero is reserved" in got.raw_log


@pytest.mark.parametrize("value", ["1e41", "-2E+40", "1e-41", "0.00000000000000000000000000000000000000000001"])
async def test_values_outside_the_bounded_range_fail_at_decode(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any, value: str
) -> None:
    # v10 values are BoundedExp40Dec: |x| in [1e-40, 1e40] or zero, checked when the tx is decoded.
    nonce = await nonce_opener(devnet)
    resp = await client.send(worker_key, [payload_msg(worker_key, TOPIC, nonce, value)])
    assert (resp.codespace, resp.code) == ("sdk", 2)
    assert "out of range" in resp.raw_log


@pytest.mark.parametrize("value", ["+1", "1e-3", "01.5", ".5", "0.0000001", "1E2"])
async def test_non_canonical_value_breaks_the_bundle_signature(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any, value: str
) -> None:
    nonce = await nonce_opener(devnet)
    resp = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, value)])
    assert (resp.codespace, resp.code) == ("sdk", 4)
    assert "signature verification failed" in resp.raw_log


@pytest.mark.parametrize("value", ["NaN", "Infinity", "", "abc", "1.2.3"])
async def test_unparseable_value(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any, value: str
) -> None:
    nonce = await nonce_opener(devnet)
    resp = await client.send(worker_key, [payload_msg(worker_key, TOPIC, nonce, value)])
    assert (resp.codespace, resp.code) == ("sdk", 2)


@pytest.mark.parametrize("value", ["0.0123", "-0.5", "1E-7", "1.2345E-7", "100", "0"])
async def test_canonical_values_accepted(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any, value: str
) -> None:
    nonce = await nonce_opener(devnet)
    got = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, value)])
    assert got.code == 0
    assert devnet.accepted_inferences(TOPIC)[-1].value == value


async def test_closed_nonce_fails_in_block_with_75(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any
) -> None:
    nonce = await nonce_opener(devnet)
    await devnet.advance_blocks(WINDOW)  # window closed: the nonce left the unfulfilled list
    assert nonce not in devnet.state.unfulfilled_nonces(TOPIC)
    # CheckTx does not run message logic (as on the chain): the tx is accepted, then fails in the block.
    got = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce)])
    assert (got.codespace, got.code) == ("emissions", 75)
    assert got.raw_log == "failed to execute message; message index: 0: unfulfilled nonce not found"
    assert got.height == devnet.height
    # The failed tx still took its sequence and paid its fee.
    assert (await client.info(worker_key)).sequence == 1


async def test_lingering_nonce_outside_window_fails_with_67(
    config_factory: Any, client_for: Any, worker_key: Key, nonce_opener: Any
) -> None:
    # On the chain a nonce can stay "unfulfilled" after its window closed; then the window check fails.
    topic = TopicConfig(id=TOPIC, epoch_length=EPOCH, worker_submission_window=WINDOW, nonce_linger_blocks=5)
    async with Devnet(config_factory(topics=[topic])) as dn, client_for(dn) as client:
        nonce = await nonce_opener(dn)
        await dn.advance_blocks(WINDOW)
        assert nonce in dn.state.unfulfilled_nonces(TOPIC)
        got = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce)])
        assert (got.codespace, got.code) == ("emissions", 67)
        assert "worker nonce window not available" in got.raw_log
        await dn.advance_blocks(5)
        assert nonce not in dn.state.unfulfilled_nonces(TOPIC)


async def test_second_submission_in_window_is_inference_already_submitted(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any
) -> None:
    # PlanInferenceAdmission: an inferer already in the active set gets a plain errors.New (code 1,
    # codespace "undefined"), not 78.
    nonce = await nonce_opener(devnet)
    assert (await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, "0.1")])).code == 0
    again = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, "0.2")])
    assert (again.codespace, again.code) == ("undefined", 1)
    assert "inference already submitted" in again.raw_log
    assert [i.value for i in devnet.accepted_inferences(TOPIC)] == ["0.1"]


async def test_not_admitted_then_resubmitted_fails_with_78(
    config_factory: Any, client_for: Any, worker_key: Key, nonce_opener: Any
) -> None:
    # A full active set of better rivals: code 0, nothing stored, EMA touched; a second try -> 78.
    topic = TopicConfig(id=TOPIC, epoch_length=EPOCH, worker_submission_window=WINDOW, max_active_inferers=1,
                        rivals={"allo1rival": 0.9}, ema_scores={worker_key.address: 0.2})
    async with Devnet(config_factory(topics=[topic])) as dn, client_for(dn) as client:
        nonce = await nonce_opener(dn)
        first = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, "0.1")])
        assert first.code == 0
        assert dn.accepted_inferences(TOPIC) == []
        assert dn.state.not_admitted == [(TOPIC, nonce, worker_key.address)]
        again = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, "0.2")])
        assert (again.codespace, again.code) == ("emissions", 78)


async def test_better_score_evicts_the_lowest(
    config_factory: Any, client_for: Any, worker_key: Key, nonce_opener: Any
) -> None:
    topic = TopicConfig(id=TOPIC, epoch_length=EPOCH, worker_submission_window=WINDOW, max_active_inferers=1,
                        rivals={"allo1rival": 0.1}, ema_scores={worker_key.address: 0.5})
    async with Devnet(config_factory(topics=[topic])) as dn, client_for(dn) as client:
        nonce = await nonce_opener(dn)
        assert (await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce)])).code == 0
        assert [i.worker for i in dn.accepted_inferences(TOPIC)] == [worker_key.address]
        assert dn.state.topic(TOPIC).active[nonce] == {worker_key.address}


async def test_whitelist_is_enforced_in_the_block_with_the_real_text(
    config_factory: Any, client_for: Any, worker_key: Key, nonce_opener: Any
) -> None:
    topic = TopicConfig(id=TOPIC, epoch_length=EPOCH, worker_submission_window=WINDOW,
                        worker_whitelist=["allo1someoneelse"])
    async with Devnet(config_factory(topics=[topic])) as dn, client_for(dn) as client:
        nonce = await nonce_opener(dn)
        got = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce)])
        assert got.codespace == "emissions" and got.code != 0
        assert "not permitted to submit payload" in got.raw_log
        assert (await client.info(worker_key)).sequence == 1  # it paid and used its sequence


async def test_unregistered_worker_fails_with_13(
    devnet: Devnet, client: Any, stranger_key: Key, nonce_opener: Any
) -> None:
    nonce = await nonce_opener(devnet)
    got = await client.deliver(stranger_key, [payload_msg(stranger_key, TOPIC, nonce)])
    assert (got.codespace, got.code) == ("emissions", 13)


async def test_data_fee_unpaid_fails_with_sdk_5(config_factory: Any, client_for: Any, worker_key: Key) -> None:
    # Enough for the gas fee (3e6 uallo), not for a data sending fee of 1e9.
    accounts = {worker_key.address: 3_500_000}
    async with (
        Devnet(config_factory(accounts=accounts, data_sending_fee=10**9)) as dn,
        client_for(dn) as client,
    ):
        await dn.advance_blocks(EPOCH - 1)
        got = await client.deliver(
            worker_key, [payload_msg(worker_key, TOPIC, dn.state.unfulfilled_nonces(TOPIC)[0])]
        )
        # The data sending fee is a bank send (msg_server_util_payment.go): sdk/5 insufficient funds.
        assert (got.codespace, got.code) == ("sdk", 5)


async def test_payload_for_unknown_topic_and_mismatched_bundle(
    devnet: Devnet, client: Any, worker_key: Key, nonce_opener: Any
) -> None:
    nonce = await nonce_opener(devnet)
    got = await client.deliver(worker_key, [payload_msg(worker_key, 4242, nonce)])
    assert (got.codespace, got.code) == ("emissions", 6)
    mismatched = await client.deliver(worker_key, [payload_msg(worker_key, TOPIC, nonce, bundle_topic_id=68)])
    assert (mismatched.codespace, mismatched.code) == ("sdk", 18)


async def test_sender_must_sign(devnet: Devnet, client: Any, worker_key: Key, stranger_key: Key) -> None:
    # A tx carrying the worker's message but signed (and keyed) by someone else.
    from allora_worker.devnet.txbuild import build_tx

    acc = devnet.state.account(stranger_key.address)
    tx = build_tx(
        stranger_key,
        [register_msg(worker_key, TOPIC)],
        chain_id="allora-devnet-1",
        account_number=acc.number,
        sequence=0,
    )
    resp = await client.broadcast(tx)
    assert (resp.codespace, resp.code) == ("sdk", 8)
