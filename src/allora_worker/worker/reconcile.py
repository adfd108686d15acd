"""The chain/journal boundary: run one journaled submission, and reconcile in-flight entries.

`submit_journaled` writes each state before the next external effect (signed before broadcast,
broadcast before confirm) and maps every chain error class to its journal state.

`reconcile` runs at start (and each cycle) before anything is re-signed. For every entry left
`signed` or `broadcast` it asks the chain what happened to the stored tx:

- in a block: `confirmed` when the chain stored our inference, `not_admitted` when code 0 came
  without it (a full active set of better EMA scores), or, for a failed DeliverTx, the state its
  error class says;
- unknown and the nonce gone: `missed`;
- unknown and the nonce open: the *same signed bytes* are broadcast again (same hash, same
  sequence, so at most one of them can ever land) and confirmed; if the node says the sequence is
  already used and the tx still is not found, the stored tx can never land: `rejected`, which lets
  the worker re-claim and re-sign the nonce.

`confirm_within(nonce)` gives each confirmation its budget (the scheduler: what is left of the
window); without it the client's confirm_timeout_s applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from allora_worker.chain import errors as E
from allora_worker.chain.client import Cadence, ChainClient, SignedTx
from allora_worker.journal import BROADCAST, CLAIMED, SIGNED, Entry, Journal, Prediction
from allora_worker.secrets import describe
from allora_worker.worker.wallet_guard import landed_here, refusal

log = logging.getLogger(__name__)

# Seconds a confirmation of this nonce's tx may take (None: the client's default).
ConfirmBudget = Callable[[int], float | None]


async def submit_journaled(
    client: ChainClient,
    journal: Journal,
    topic_id: int,
    nonce: int,
    value: float | str,
    *,
    confirm_timeout_s: float | None = None,
    cadence: Cadence | None = None,
    prediction: Prediction | None = None,
) -> Entry:
    """Submit a claimed (topic, nonce) with the journal in the loop. Returns the final entry.

    `prediction` (the value's provenance) is journaled with the signed tx, in its transaction
    (one commit fewer per window than a transaction of its own); an attempt that ends before
    signing journals it before its outcome. Raises only `Fatal` (after journaling it as
    rejected): the operator must act.
    """
    entry = journal.get(topic_id, nonce)
    if entry is None or entry.state != CLAIMED:
        raise ValueError(f"topic {topic_id} nonce {nonce} must be claimed first (is {entry and entry.state})")

    provenance: dict[str, str | None] = {} if prediction is None else {
        "model_hash": prediction.model_hash, "model_version": prediction.model_version,
        "data_window": prediction.data_window}

    def on_signed(s: SignedTx) -> None:
        journal.mark_signed(topic_id, nonce, txhash=s.txhash, tx_bytes=s.tx_bytes, sequence=s.sequence,
                            value=s.value, **provenance)

    def on_broadcast(s: SignedTx) -> None:
        journal.mark_broadcast(topic_id, nonce, txhash=s.txhash)

    try:
        result = await client.submit(topic_id, nonce, value, on_signed=on_signed, on_broadcast=on_broadcast,
                                     confirm_timeout_s=confirm_timeout_s, cadence=cadence)
    except Exception as exc:
        if prediction is not None:
            current = journal.get(topic_id, nonce)
            if current is not None and current.state == CLAIMED:
                # Nothing was signed: the outcome (rejected, missed, already on chain) still
                # says which prediction it was about.
                journal.record_prediction(topic_id, nonce, value=prediction.value, model_hash=prediction.model_hash,
                                          model_version=prediction.model_version,
                                          data_window=prediction.data_window)
        return await _record_failure(journal, client, topic_id, nonce, exc)
    return await _settle_landed(journal, client, topic_id, nonce, txhash=result.txhash, height=result.height)


async def _settle_landed(journal: Journal, client: ChainClient, topic_id: int, nonce: int, *,
                         txhash: str | None = None, height: int | None = None, chain_code: int | None = 0,
                         detail: str | None = None) -> Entry:
    """Our tx landed (or the chain says we already submitted): code 0 is not storage. Ask the chain
    whether it holds our inference for the nonce; journal `confirmed` only when it does."""
    admission = await client.admission(topic_id, nonce)
    if admission.stored is False:
        reason = (f"included{f' at height {height}' if height else ''} with code 0 but not admitted: the "
                  f"topic's active set is full and kept better scores ({admission.words()})")
        log.warning("topic %s nonce %s: NOT ADMITTED: %s", topic_id, nonce, reason)
        return journal.mark_not_admitted(topic_id, nonce, reason=reason, txhash=txhash, height=height)
    return journal.mark_confirmed(topic_id, nonce, txhash=txhash, height=height, chain_code=chain_code,
                                  detail=detail)


async def _record_failure(journal: Journal, client: ChainClient, topic_id: int, nonce: int,
                          exc: Exception) -> Entry:
    current = journal.get(topic_id, nonce)
    assert current is not None
    code = getattr(exc, "code", None)
    if isinstance(exc, E.AlreadySubmitted):
        if not await landed_here(journal, client, topic_id, nonce):
            # Our wallet's inference is there, but not from this journal: another worker signs
            # with this key. Nothing more is signed here (the daemon exits 3).
            refused = await refusal(journal, client, topic_id, nonce, "the chain answered 'already submitted' for")
            journal.mark_rejected(topic_id, nonce, error=str(refused)[:300], chain_code=code,
                                  codespace=getattr(exc, "codespace", None))
            raise refused
        return await _settle_landed(journal, client, topic_id, nonce, chain_code=code, detail=describe(exc))
    if isinstance(exc, E.WindowClosed):
        return journal.mark_missed(topic_id, nonce, reason=describe(exc), chain_code=code)
    uncertain = isinstance(exc, (E.ConfirmTimeout, E.Unavailable, E.QueryFailed)) or not isinstance(
        exc, E.ChainError
    )
    if uncertain and current.state in (SIGNED, BROADCAST):
        # We do not know whether the tx is in a mempool or a block: leave it in flight for reconcile,
        # never re-sign blindly. (A CheckTx/DeliverTx verdict, by contrast, is final for that tx.)
        log.warning("topic %s nonce %s left %s: %s", topic_id, nonce, current.state, describe(exc))
        return current
    entry = journal.mark_rejected(topic_id, nonce, error=describe(exc), chain_code=code,
                                  codespace=getattr(exc, "codespace", None))
    if isinstance(exc, E.Fatal):
        raise exc
    if not isinstance(exc, E.ChainError):
        log.error("topic %s nonce %s: unexpected %s", topic_id, nonce, describe(exc))
    return entry


@dataclass(frozen=True)
class Reconciled:
    topic_id: int
    nonce: int
    before: str
    after: str


async def reconcile(journal: Journal, client: ChainClient, *, topic_id: int | None = None,
                    confirm_within: ConfirmBudget | None = None,
                    cadence: Cadence | None = None) -> list[Reconciled]:
    """Settle in-flight entries (all, or one topic's) with the chain. Idempotent.

    Never run it over an entry that a live cycle of this process is still submitting: that
    cycle owns it until it returns. A topic loop therefore reconciles only its own topic.
    """
    done: list[Reconciled] = []
    for entry in journal.in_flight():
        if topic_id is not None and entry.topic_id != topic_id:
            continue
        try:
            budget = confirm_within(entry.nonce) if confirm_within is not None else None
            after = await _reconcile_one(journal, client, entry, budget, cadence)
        except E.Unavailable as exc:
            log.warning("reconcile topic %s nonce %s postponed: %s",
                        entry.topic_id, entry.nonce, describe(exc))
            after = entry
        done.append(Reconciled(entry.topic_id, entry.nonce, entry.state, after.state))
    # Whatever we re-broadcast moved the account sequence: sign the next tx from a fresh query.
    client.forget_sequence()
    return done


async def _reconcile_one(journal: Journal, client: ChainClient, entry: Entry,
                         confirm_timeout_s: float | None = None, cadence: Cadence | None = None) -> Entry:
    t, n = entry.topic_id, entry.nonce
    if entry.txhash:
        found = await client.get_tx(entry.txhash)
        if found is not None:
            return await _settle_included(journal, client, entry, found.code, found.codespace, found.raw_log,
                                          found.height)
    if not await client.is_nonce_open(t, n):
        return journal.mark_missed(t, n, reason="window closed; our tx is not on chain")
    if not entry.tx_bytes or not entry.txhash:
        return journal.mark_rejected(t, n, error="in flight without stored tx bytes; re-sign")
    signed = SignedTx(topic_id=t, nonce=n, value=entry.value or "", txhash=entry.txhash,
                      tx_bytes=entry.tx_bytes, sequence=entry.sequence or 0, account_number=0,
                      gas_limit=0, fee=0)
    try:
        await client.broadcast(signed)
    except E.SequenceMismatch:
        found = await client.get_tx(entry.txhash)
        if found is not None:
            return await _settle_included(journal, client, entry, found.code, found.codespace, found.raw_log,
                                          found.height)
        return journal.mark_rejected(t, n, error="stored tx superseded (its sequence is used); re-sign")
    except E.AlreadySubmitted as exc:
        return await _settle_landed(journal, client, t, n, chain_code=exc.code, detail=describe(exc))
    except E.WindowClosed as exc:
        return journal.mark_missed(t, n, reason=describe(exc), chain_code=exc.code)
    except E.Unavailable:
        raise
    except E.ChainError as exc:
        return journal.mark_rejected(t, n, error=describe(exc), chain_code=exc.code, codespace=exc.codespace)
    if entry.state != BROADCAST:
        journal.mark_broadcast(t, n, txhash=entry.txhash)
    try:
        # Keep re-sending the same bytes while waiting: the copy just sent may be dropped too.
        resp = await client.confirm(entry.txhash, confirm_timeout_s, resend=signed, cadence=cadence)
    except E.ConfirmTimeout:
        return journal.get(t, n)  # type: ignore[return-value]
    except E.ChainError as exc:
        return await _record_failure(journal, client, t, n, exc)
    return await _settle_landed(journal, client, t, n, txhash=entry.txhash, height=int(resp.height))


async def _settle_included(journal: Journal, client: ChainClient, entry: Entry, code: int, codespace: str,
                           raw_log: str, height: int) -> Entry:
    t, n = entry.topic_id, entry.nonce
    if code == 0:
        return await _settle_landed(journal, client, t, n, txhash=entry.txhash, height=int(height))
    err = E.classify(codespace, code, raw_log, txhash=entry.txhash)
    if isinstance(err, E.AlreadySubmitted):
        return await _settle_landed(journal, client, t, n, chain_code=code, detail=describe(err))
    if isinstance(err, E.WindowClosed):
        return journal.mark_missed(t, n, reason=describe(err), chain_code=code)
    return journal.mark_rejected(t, n, error=describe(err), chain_code=code, codespace=codespace)
