"""ChainClient against the devnet: queries, the submit lifecycle and every error class."""

from __future__ import annotations

import asyncio
import time

import pytest

from allora_worker.chain import errors as E
from allora_worker.chain.client import SignedTx
from allora_worker.devnet.faults import FaultPlan

from .conftest import FUNDS, Env, new_wallet

pytestmark = pytest.mark.integration


async def test_queries(env: Env) -> None:
    c = env.make_client()
    assert await c.check_chain_id() == env.devnet.config.chain_id
    topic = await c.topic(67)
    assert topic.id == 67 and topic.worker_submission_window == 35 and topic.epoch_length == 40
    nonce = await env.open_nonce(c, 67)
    assert await c.is_nonce_open(67, nonce)
    status = await c.window_status(67)
    assert status.is_registered and status.is_topic_active
    assert await c.can_submit(67) and await c.is_registered(67)
    assert not await c.is_registered(67, new_wallet().address)
    acc = await c.account()
    assert acc.sequence == 0
    assert await c.balance() == FUNDS
    assert await c.gas_price() == pytest.approx(float(env.devnet.config.min_gas_price))
    assert await c.get_tx("AB" * 32) is None
    assert await c.latest_height() >= 1
    with pytest.raises(E.Fatal, match="topic 4242"):
        await c.topic(4242)


async def test_submit_confirms_and_journal_hooks_see_the_hash_first(env: Env) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    seen: list[tuple[str, str]] = []

    def on_signed(s: SignedTx) -> None:
        # The hash is known before broadcast, and the node does not know the tx yet.
        assert env.devnet.state.tx_result(s.txhash) is None
        seen.append(("signed", s.txhash))

    def on_broadcast(s: SignedTx) -> None:
        seen.append(("broadcast", s.txhash))

    r = await c.submit(67, nonce, -0.00412, on_signed=on_signed, on_broadcast=on_broadcast)
    assert seen == [("signed", r.txhash), ("broadcast", r.txhash)]
    assert r.value == "-0.00412" and r.height > nonce and r.attempts == 1
    accepted = env.devnet.accepted_inferences(67)
    assert [(a.nonce, a.worker, a.value, a.txhash) for a in accepted] == [
        (nonce, env.wallet.address, "-0.00412", r.txhash)
    ]
    assert await c.balance() < FUNDS  # fee + data fee paid


async def test_already_submitted_is_its_own_class(env: Env) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    await c.submit(67, nonce, 0.01)
    with pytest.raises(E.AlreadySubmitted):
        await c.submit(67, nonce, 0.02)
    assert len(env.devnet.accepted_inferences(67)) == 1


async def test_window_closed(env: Env) -> None:
    c = env.make_client()
    nonces = await c.open_nonces(69)
    while not nonces:
        await asyncio.sleep(0.05)
        nonces = await c.open_nonces(69)
    stale = nonces[-1]
    await env.devnet.wait_for_height(stale + 5, timeout=5)
    with pytest.raises(E.WindowClosed):
        await c.submit(69, stale, 0.01)
    assert env.devnet.accepted_inferences(69) == []


async def test_not_registered_is_fatal_and_says_what_to_do(env: Env) -> None:
    stranger = new_wallet()
    env.devnet.fund(stranger.address, FUNDS)
    c = env.make_client(wallet=stranger)
    nonce = await env.open_nonce(c, 67)
    with pytest.raises(E.NotRegistered, match="allora-worker register"):
        await c.submit(67, nonce, 0.01)
    # Registering fixes it.
    await c.register(67)
    assert await c.is_registered(67)
    r = await c.submit(67, nonce, 0.01)
    assert r.txhash


async def test_unknown_account_and_empty_wallet_are_out_of_funds(env: Env) -> None:
    ghost = new_wallet()
    c = env.make_client(wallet=ghost)
    with pytest.raises(E.OutOfFunds, match="send it some uallo"):
        await c.account()
    poor = new_wallet()
    env.devnet.fund(poor.address, 1000)
    env.devnet.register_worker(67, poor.address)
    c2 = env.make_client(wallet=poor)
    nonce = await env.open_nonce(c2, 67)
    with pytest.raises(E.OutOfFunds, match="fund the wallet"):
        await c2.submit(67, nonce, 0.01)


async def test_data_fee_shortfall_is_out_of_funds(env: Env) -> None:
    w = new_wallet()
    c = env.make_client(wallet=w, fee_multiplier=1.0)
    env.devnet.register_worker(67, w.address)
    data_fee = env.devnet.config.data_sending_fee
    env.devnet.fund(w.address, data_fee)
    nonce = await env.open_nonce(c, 67)
    # Top up to exactly the tx fee plus half the data sending fee: the tx passes CheckTx (and the
    # simulation, which charges no gas fee), then in the block the data fee's bank send fails:
    # sdk/5 insufficient funds (allora-chain msg_server_util_payment.go).
    probe = await c.prepare(67, nonce, 0.01)
    env.devnet.fund(w.address, probe.fee - data_fee // 2)
    with pytest.raises(E.OutOfFunds) as info:
        await c.submit(67, nonce, 0.01)
    assert (info.value.codespace, info.value.code) == ("sdk", 5)


async def test_chain_id_mismatch_is_fatal(env: Env) -> None:
    c = env.make_client()
    c.chain_id = "allora-mainnet-1"
    with pytest.raises(E.ChainIdMismatch, match="allora-mainnet-1"):
        await c.check_chain_id()


async def test_sequence_mismatch_resyncs_and_retries(env: Env) -> None:
    c = env.make_client()
    n67 = await env.open_nonce(c, 67)
    first = await c.submit(67, n67, 0.01)
    assert first.sequence == 0
    # Another process used the key: the cached next sequence (1) is now stale.
    env.devnet.bump_sequence(env.wallet.address, 2)
    n68 = await env.open_nonce(c, 68)
    signed: list[int] = []
    r = await c.submit(68, n68, 0.02, on_signed=lambda s: signed.append(s.sequence))
    assert r.sequence == 3 and signed[-1] == 3
    assert len(env.devnet.accepted_inferences()) == 2


async def test_insufficient_fee_reprices_within_the_cap(env: Env) -> None:
    c = env.make_client(fee_multiplier=0.5)  # below the chain's minimum gas price
    nonce = await env.open_nonce(c, 67)
    fees: list[int] = []
    r = await c.submit(67, nonce, 0.01, on_signed=lambda s: fees.append(s.fee))
    assert r.attempts == len(fees) >= 2 and fees[-1] > fees[0]
    assert r.fee >= r.gas_wanted * env.devnet.config.min_gas_price
    assert len(env.devnet.accepted_inferences(67)) == 1


async def test_fee_above_the_cap_is_refused_before_broadcast(env: Env) -> None:
    c = env.make_client(max_fee=1000)
    nonce = await env.open_nonce(c, 67)
    before = env.devnet.state.counters["txs_seen"]
    with pytest.raises(E.FeeCapExceeded, match="max_fee"):
        await c.submit(67, nonce, 0.01)
    assert env.devnet.state.counters["txs_seen"] == before
    # A tier above the cap but a minimum below it: clamped to the cap, and accepted.
    price = env.devnet.config.min_gas_price
    c2 = env.make_client(fee_multiplier=5.0, max_fee=int(200_000 * price * 1.2))
    r = await c2.submit(67, nonce, 0.01)
    assert r.fee == int(200_000 * price * 1.2)


async def test_out_of_gas_raises_gas(env: Env) -> None:
    c = env.make_client(gas_adjustment=0.5)
    nonce = await env.open_nonce(c, 67)
    limits: list[int] = []
    r = await c.submit(67, nonce, 0.01, on_signed=lambda s: limits.append(s.gas_limit))
    assert len(limits) >= 2 and limits[-1] > limits[0] and r.gas_used <= r.gas_wanted


async def test_mempool_full_backs_off_then_succeeds(env: Env) -> None:
    c = env.make_client(backoff_s=0.1)
    nonce = await env.open_nonce(c, 67)
    env.devnet.faults.mempool_full = True
    asyncio.get_running_loop().call_later(0.25, setattr, env.devnet.faults, "mempool_full", False)
    attempts: list[str] = []
    await c.submit(67, nonce, 0.01, on_signed=lambda s: attempts.append(s.txhash))
    assert len(attempts) >= 2
    assert len(env.devnet.accepted_inferences(67)) == 1


async def test_mempool_full_for_good_raises_unavailable(env: Env) -> None:
    c = env.make_client(backoff_s=0.01)
    nonce = await env.open_nonce(c, 67)
    env.devnet.faults.mempool_full = True
    with pytest.raises(E.MempoolFull):
        await c.submit(67, nonce, 0.01)
    assert isinstance(E.MempoolFull("x"), E.Unavailable)


async def test_dropped_tx_times_out_in_confirm(env: Env) -> None:
    c = env.make_client(confirm_timeout_s=0.6)
    nonce = await env.open_nonce(c, 67)
    env.devnet.faults.drop_txs = 1
    t0 = time.monotonic()
    with pytest.raises(E.ConfirmTimeout) as info:
        await c.submit(67, nonce, 0.01)
    # Gave up at the 0.6 s confirm deadline, not later (10 s: room for a loaded machine's sign and
    # broadcast, far below any default deadline it could be confused with).
    assert 0.5 < time.monotonic() - t0 < 10
    assert info.value.txhash and env.devnet.state.tx_result(info.value.txhash) is None


async def test_concurrent_topics_never_share_a_sequence(env: Env) -> None:
    c = env.make_client()
    n67 = await env.open_nonce(c, 67)
    n68 = await env.open_nonce(c, 68)
    results = await asyncio.gather(c.submit(67, n67, 0.01), c.submit(68, n68, 0.02))
    assert sorted(r.sequence for r in results) == [0, 1]
    assert {(a.topic_id, a.value) for a in env.devnet.accepted_inferences()} == {(67, "0.01"), (68, "0.02")}


async def test_injected_unavailable_is_unavailable(env: Env) -> None:
    c = env.make_client()
    env.devnet.set_faults(FaultPlan(error_rate={"*": 1.0}))
    with pytest.raises(E.Unavailable):
        await c.open_nonces(67)


async def test_confirm_budget_from_the_caller_overrides_the_client_default(env: Env) -> None:
    c = env.make_client(confirm_timeout_s=30.0)
    nonce = await env.open_nonce(c, 67)
    env.devnet.faults.drop_txs = 1
    t0 = time.monotonic()
    with pytest.raises(E.ConfirmTimeout, match=r"after 0\.4s"):
        await c.submit(67, nonce, 0.01, confirm_timeout_s=0.4)
    assert time.monotonic() - t0 < 10.0  # the client's own 30 s did not apply


async def test_superseded_tx_is_resigned_within_the_same_submit(env: Env) -> None:
    # Our tx is dropped, then an outside tx from the same key takes its sequence: re-sending the
    # same bytes can never work, so the client must notice and re-sign without waiting out the
    # 30 s confirm timeout.
    c = env.make_client(confirm_timeout_s=30.0, rebroadcast_s=0.3)
    nonce = await env.open_nonce(c, 67)
    env.devnet.faults.drop_txs = 1
    signed: list[str] = []

    def on_broadcast(s: SignedTx) -> None:
        if not signed:
            env.devnet.bump_sequence(env.wallet.address)
        signed.append(s.txhash)

    t0 = time.monotonic()
    r = await c.submit(67, nonce, 0.01, on_broadcast=on_broadcast)
    assert time.monotonic() - t0 < 10.0  # re-signed at once, not after the 30 s confirm timeout
    assert r.attempts == 2 and len(signed) == 2 and r.txhash == signed[1] != signed[0]
    assert [a.txhash for a in env.devnet.accepted_inferences(67)] == [r.txhash]
    assert env.devnet.state.tx_result(signed[0]) is None
