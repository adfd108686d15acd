"""Reconcile and the journaled submit against the devnet: every in-flight state settles correctly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from allora_worker.chain import errors as E
from allora_worker.journal import BROADCAST, CONFIRMED, MISSED, REJECTED, SIGNED, Journal, Prediction
from allora_worker.worker.reconcile import reconcile, submit_journaled
from allora_worker.worker.wallet_guard import WalletInUse

from .conftest import FUNDS, Env, new_wallet

pytestmark = pytest.mark.integration


@pytest.fixture()
def journal(tmp_path: Path):
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def _ours(env: Env, topic: int, nonce: int) -> list[str]:
    return [a.txhash for a in env.devnet.accepted_inferences(topic)
            if a.nonce == nonce and a.worker == env.wallet.address]


async def test_signed_but_never_broadcast_is_sent_again_with_the_same_bytes(
    env: Env, journal: Journal
) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    signed = await c.prepare(67, nonce, 0.07)
    journal.mark_signed(67, nonce, txhash=signed.txhash, tx_bytes=signed.tx_bytes, sequence=signed.sequence)
    # (crash here) -- a new process reconciles:
    c2 = env.make_client()
    settled = await reconcile(journal, c2)
    assert [(s.before, s.after) for s in settled] == [(SIGNED, CONFIRMED)]
    assert _ours(env, 67, nonce) == [signed.txhash]
    assert journal.get(67, nonce).txhash == signed.txhash  # type: ignore[union-attr]


async def test_broadcast_and_included_is_confirmed_without_resending(env: Env, journal: Journal) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    signed = await c.prepare(67, nonce, 0.07)
    journal.mark_signed(67, nonce, txhash=signed.txhash, tx_bytes=signed.tx_bytes, sequence=signed.sequence)
    await c.broadcast(signed)
    journal.mark_broadcast(67, nonce, txhash=signed.txhash)
    await c.confirm(signed.txhash)
    seen = env.devnet.state.counters["txs_seen"]
    settled = await reconcile(journal, env.make_client())
    assert [(s.before, s.after) for s in settled] == [(BROADCAST, CONFIRMED)]
    assert env.devnet.state.counters["txs_seen"] == seen  # GetTx found it: nothing re-sent
    assert journal.get(67, nonce).height  # type: ignore[union-attr]


async def test_in_flight_after_the_window_closed_is_missed(env: Env, journal: Journal) -> None:
    c = env.make_client()
    nonces = await c.open_nonces(69)
    while not nonces:
        nonces = await c.open_nonces(69)
    nonce = nonces[-1]
    journal.claim(69, nonce)
    signed = await c.prepare(69, nonce, 0.07)
    journal.mark_signed(69, nonce, txhash=signed.txhash, tx_bytes=signed.tx_bytes, sequence=signed.sequence)
    await env.devnet.wait_for_height(nonce + 5, timeout=5)
    settled = await reconcile(journal, env.make_client())
    assert [(s.before, s.after) for s in settled] == [(SIGNED, MISSED)]
    assert _ours(env, 69, nonce) == []


async def test_superseded_sequence_is_rejected_then_resigned(env: Env, journal: Journal) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    signed = await c.prepare(67, nonce, 0.07)
    journal.mark_signed(67, nonce, txhash=signed.txhash, tx_bytes=signed.tx_bytes, sequence=signed.sequence)
    env.devnet.bump_sequence(env.wallet.address)  # another tx took that sequence
    c2 = env.make_client()
    settled = await reconcile(journal, c2)
    assert [(s.before, s.after) for s in settled] == [(SIGNED, REJECTED)]
    assert journal.claim(67, nonce) is not None
    entry = await submit_journaled(c2, journal, 67, nonce, 0.07)
    assert entry.state == CONFIRMED and entry.txhash != signed.txhash and entry.attempts == 2
    assert _ours(env, 67, nonce) == [entry.txhash]


async def test_journaled_submit_maps_outcomes(env: Env, journal: Journal) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    done = await submit_journaled(c, journal, 67, nonce, 0.123)
    assert done.state == CONFIRMED and done.value == "0.123" and done.height
    states = [e.to_state for e in journal.events(67, nonce)]
    assert states == ["claimed", "signed", "broadcast", "confirmed"]
    # A second worker on this wallet with another journal: the chain says already submitted for a
    # window that journal never sent a tx for -> another worker signs with this key: refuse.
    with Journal(journal.path.parent / "other.sqlite") as other:
        other.claim(67, nonce)
        with pytest.raises(WalletInUse, match="ANOTHER WORKER IS USING WALLET"):
            await submit_journaled(c, other, 67, nonce, 0.5)
        refused = other.get(67, nonce)
        assert refused is not None and refused.state == REJECTED and refused.txhash is None
    # The journal that did send it hears 'already submitted' as its own success.
    again_here = journal.get(67, nonce)
    assert again_here is not None and again_here.state == CONFIRMED
    assert len(_ours(env, 67, nonce)) == 1


def _commits(journal: Journal) -> list[str]:
    """Every COMMIT the SQLite journal sends from now on (each costs the disk its fsyncs)."""
    seen: list[str] = []
    journal._db.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


PREDICTION = Prediction("0.123", model_hash="ab" * 32, model_version="1.2.3",
                        data_window="replay:2025-01-01T00:00:00+00:00..2025-01-08T00:00:00+00:00#0123456789abcdef")


async def test_the_prediction_is_journaled_with_the_signed_tx_in_one_commit(env: Env, journal: Journal) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    commits = _commits(journal)
    done = await submit_journaled(c, journal, 67, nonce, 0.123, prediction=PREDICTION)
    # signed (with the prediction), broadcast, confirmed: no commit of the prediction's own.
    assert len(commits) == 3, commits
    assert done.state == CONFIRMED and done.value == "0.123"
    assert (done.model_hash, done.model_version, done.data_window) == \
        (PREDICTION.model_hash, PREDICTION.model_version, PREDICTION.data_window)
    assert [e.to_state for e in journal.events(67, nonce)] == ["claimed", "signed", "broadcast", "confirmed"]


async def test_an_attempt_refused_before_signing_is_rejected_with_its_reason_and_prediction(
        env: Env, journal: Journal) -> None:
    stranger = new_wallet()  # funded, not registered on topic 67
    env.devnet.fund(stranger.address, FUNDS)
    c = env.make_client(wallet=stranger)
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    with pytest.raises(E.NotRegistered):
        await submit_journaled(c, journal, 67, nonce, 0.123, prediction=PREDICTION)
    e = journal.get(67, nonce)
    assert e is not None and e.state == REJECTED and e.txhash is None and "register" in (e.error or "")
    assert (e.value, e.model_hash, e.model_version, e.data_window) == \
        (PREDICTION.value, PREDICTION.model_hash, PREDICTION.model_version, PREDICTION.data_window)


async def test_dropped_tx_stays_in_flight_then_reconcile_lands_it(env: Env, journal: Journal) -> None:
    c = env.make_client(confirm_timeout_s=0.5)
    nonce = await env.open_nonce(c, 67)
    journal.claim(67, nonce)
    env.devnet.faults.drop_txs = 1
    entry = await submit_journaled(c, journal, 67, nonce, 0.3)
    assert entry.state == BROADCAST and _ours(env, 67, nonce) == []
    settled = await reconcile(journal, c)
    assert [(s.before, s.after) for s in settled] == [(BROADCAST, CONFIRMED)]
    assert _ours(env, 67, nonce) == [entry.txhash]


async def _left_in_flight(env: Env, journal: Journal, c, nonce: int):  # type: ignore[no-untyped-def]
    """Submit with re-sending off and the tx dropped: the entry stays `broadcast`."""
    journal.claim(67, nonce)
    env.devnet.faults.drop_txs = 1
    c.rebroadcast_s = 60.0
    entry = await submit_journaled(c, journal, 67, nonce, 0.3)
    assert entry.state == BROADCAST and _ours(env, 67, nonce) == []
    c.rebroadcast_s = 0.25
    return entry


async def test_reconcile_keeps_resending_while_it_confirms(env: Env, journal: Journal) -> None:
    # Reconcile's own copy and its first re-send are dropped too: it re-sends the same bytes on
    # every rebroadcast period until one copy lands, within one call.
    c = env.make_client(confirm_timeout_s=0.3)
    nonce = await env.open_nonce(c, 67)
    entry = await _left_in_flight(env, journal, c, nonce)
    env.devnet.faults.drop_txs = 2
    settled = await reconcile(journal, c, confirm_within=lambda n: 3.0)
    assert [(s.before, s.after) for s in settled] == [(BROADCAST, CONFIRMED)]
    assert _ours(env, 67, nonce) == [entry.txhash]
    assert env.devnet.state.counters["txs_dropped"] == 3


async def test_reconcile_resigns_when_a_resent_copy_finds_its_sequence_taken(env: Env, journal: Journal) -> None:
    c = env.make_client(confirm_timeout_s=0.3)
    nonce = await env.open_nonce(c, 67)
    await _left_in_flight(env, journal, c, nonce)
    env.devnet.faults.drop_txs = 1
    accepted_before = env.devnet.state.counters["txs_accepted"]

    async def bump_once_the_copy_is_in() -> None:
        while env.devnet.state.counters["txs_accepted"] == accepted_before:
            await asyncio.sleep(0.005)
        env.devnet.bump_sequence(env.wallet.address)

    # Reconcile's copy passes CheckTx (then is dropped); before the next re-send an outside tx
    # takes the sequence: the entry must end `rejected` well before the 10 s budget.
    t0 = asyncio.get_running_loop().time()
    settled, _ = await asyncio.gather(reconcile(journal, c, confirm_within=lambda n: 10.0),
                                      bump_once_the_copy_is_in())
    assert asyncio.get_running_loop().time() - t0 < 3.0
    assert [(s.before, s.after) for s in settled] == [(BROADCAST, REJECTED)]
    assert "sequence is used by another tx" in (journal.get(67, nonce).error or "")  # type: ignore[union-attr]
    assert _ours(env, 67, nonce) == []
