"""One submission cycle: one topic, one open nonce, from claim to a journaled outcome.

    journal claim -> candles fetched and checked -> bundle verified -> prediction checked
    -> signed (journal) -> broadcast (journal) -> confirmed (journal) -> metrics

Every state is in the journal before the next external effect, and every failure ends the
cycle with an outcome, never the daemon: the scheduler retries the nonce while its window is open.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from allora_worker.chain import errors as chain_errors
from allora_worker.chain.canonical import canonical_decimal
from allora_worker.chain.client import Cadence, ChainClient
from allora_worker.journal import CONFIRMED, MISSED, NOT_ADMITTED, REJECTED, Entry, Journal, JournalError, Prediction
from allora_worker.logging_setup import get_logger
from allora_worker.market.errors import DataUnavailable, MarketError
from allora_worker.model.errors import BundleError
from allora_worker.secrets import describe
from allora_worker.worker.reconcile import submit_journaled
from allora_worker.worker.topic import TopicRuntime

log = get_logger("worker.cycle")

# The SDK's and chain's 'already submitted this window' code: the chain holds our inference.
_ALREADY = chain_errors.EMISSIONS_CANT_UPDATE_EMA_TWICE


# Outcomes of a cycle that had no prediction to submit (model, predictor or candles unusable).
SKIP_OUTCOMES = ("skipped_model", "skipped_data")


@dataclass(frozen=True)
class CycleResult:
    topic_id: int
    nonce: int
    outcome: str  # one of worker.metrics.OUTCOMES, or "skipped" when there was nothing to do
    value: str | None = None
    txhash: str | None = None
    detail: str = ""
    data_age_seconds: float | None = None


class CycleCounter:
    """Numbers cycles across topics for the `SUBMISSION CYCLE #N` lines."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


async def run_cycle(
    *,
    runtime: TopicRuntime,
    nonce: int,
    journal: Journal,
    client: ChainClient,
    cycle_no: int,
    dry_run: bool = False,
    confirm_timeout_s: float | None = None,
    cadence: Cadence | None = None,
) -> CycleResult:
    topic_id = runtime.topic_id
    log.info("SUBMISSION CYCLE #%d: topic %d, nonce %d%s", cycle_no, topic_id, nonce,
             " (dry run)" if dry_run else "")
    try:
        entry = journal.claim(topic_id, nonce)
    except JournalError as exc:
        return CycleResult(topic_id, nonce, "skipped", detail=f"in flight, reconcile first: {exc}")
    if entry is None:
        return CycleResult(topic_id, nonce, "skipped", detail="already done in the journal")

    # Model first: it says how much history the candle window must hold.
    try:
        predictor = runtime.current_predictor()
    except BundleError as exc:
        what = "model bundle" if runtime.uses_bundle else "predictor"
        return _refuse(journal, topic_id, nonce, "skipped_model", f"{what} unusable: {exc}")

    now = runtime.clock.now()
    window = None
    data_age: float | None = None
    if predictor.history_hours > 0:
        try:
            window = await runtime.provider.aget_checked_window(predictor.history_hours, now)
        except (DataUnavailable, MarketError) as exc:
            return _refuse(journal, topic_id, nonce, "skipped_data", f"no valid candles: {exc}")
        # Age of the newest closed candle's close (open time + 1 h) at decision time.
        data_age = (now - window.last_open_time).total_seconds() - 3600.0

    try:
        raw_value = await asyncio.to_thread(predictor.predict, window.candles if window is not None else None)
    except BundleError as exc:
        return _refuse(journal, topic_id, nonce, "skipped_model", f"prediction failed: {exc}",
                       data_age=data_age)
    bound = runtime.settings.max_abs_value
    if not math.isfinite(raw_value) or abs(raw_value) > bound:
        return _refuse(journal, topic_id, nonce, "skipped_model",
                       f"prediction {raw_value!r} is not finite or beyond ±{bound}", data_age=data_age)
    value = canonical_decimal(raw_value)
    data_window = None if window is None else \
        f"{window.source_name}:{window.first_open_time.isoformat()}..{window.last_open_time.isoformat()}" \
        f"#{window.data_hash[:16]}"
    prediction = Prediction(value, model_hash=predictor.content_hash, model_version=predictor.model_version,
                            data_window=data_window)
    log.info("topic %d nonce %d: prediction %s from %s (model %s, last candle %s)", topic_id, nonce, value,
             window.source_name if window is not None else "the predictor", predictor.content_hash[:12],
             window.last_open_time.isoformat() if window is not None else "not read")

    if dry_run:
        journal.record_prediction(topic_id, nonce, value=value, model_hash=prediction.model_hash,
                                  model_version=prediction.model_version, data_window=data_window)
        signed = await _dry_run_sign(client, topic_id, nonce, value)
        journal.mark_rejected(topic_id, nonce, error="dry run: signed, not broadcast")
        log.info("DRY RUN topic %d nonce %d: signed tx %s (%d bytes, sequence %d, fee %d) not broadcast",
                 topic_id, nonce, signed.txhash, len(signed.tx_bytes), signed.sequence, signed.fee)
        return CycleResult(topic_id, nonce, "dry_run", value, signed.txhash, data_age_seconds=data_age)

    try:
        final = await submit_journaled(client, journal, topic_id, nonce, value, confirm_timeout_s=confirm_timeout_s,
                                       cadence=cadence, prediction=prediction)
    except chain_errors.TopicFatal:
        raise  # the topic's loop stops (scheduler); nothing more for this window
    except chain_errors.Fatal as exc:
        log.error("topic %d nonce %d: %s — %s", topic_id, nonce, describe(exc), exc.handling)
        return CycleResult(topic_id, nonce, "failed", value, detail=describe(exc), data_age_seconds=data_age)

    if final.state == CONFIRMED:
        outcome = confirmed_outcome(final)
        if outcome == "accepted":
            log.info("✅ Submission success: topic %d nonce %d value %s at height %d. Transaction hash: %s",
                     topic_id, nonce, value, final.height, final.txhash)
            return CycleResult(topic_id, nonce, outcome, value, final.txhash, data_age_seconds=data_age)
        # Our inference was already on chain (an earlier tx of ours, another process, a restart):
        # nothing of this cycle landed, so there is no height or hash of ours to report.
        log.info("topic %d nonce %d: already on chain: the chain holds our inference for this window "
                 "(code %s); counted already_submitted", topic_id, nonce, final.chain_code)
        return CycleResult(topic_id, nonce, outcome, value, None, "already on chain", data_age_seconds=data_age)
    if final.state == NOT_ADMITTED:
        log.warning("topic %d nonce %d: tx %s included but our inference was NOT ADMITTED: %s", topic_id, nonce,
                    final.txhash, final.error)
        return CycleResult(topic_id, nonce, "not_admitted", value, final.txhash, final.error or "",
                           data_age_seconds=data_age)
    if final.state == MISSED:
        log.warning("topic %d nonce %d: window closed before the submission landed (%s)", topic_id, nonce,
                    final.error)
        return CycleResult(topic_id, nonce, "missed", value, final.txhash, final.error or "",
                           data_age_seconds=data_age)
    if final.state == REJECTED:
        log.warning("topic %d nonce %d: attempt rejected (%s); will retry while the window is open",
                    topic_id, nonce, final.error)
        return CycleResult(topic_id, nonce, "rejected", value, final.txhash, final.error or "",
                           data_age_seconds=data_age)
    log.warning("topic %d nonce %d: tx %s still in flight (%s); reconciling on the next pass",
                topic_id, nonce, final.txhash, final.state)
    return CycleResult(topic_id, nonce, "failed", value, final.txhash, f"left {final.state}",
                       data_age_seconds=data_age)


def confirmed_outcome(entry: Entry) -> str:
    """`accepted` when our own tx landed with code 0 at a known height; `already_submitted` when
    the chain answered that our inference for the window was already there (code 78, or a plain
    'already submitted' text under another code)."""
    if entry.chain_code in (0, None) and entry.height is not None and entry.chain_code != _ALREADY:
        return "accepted"
    return "already_submitted"


def _refuse(journal: Journal, topic_id: int, nonce: int, outcome: str, reason: str,
            data_age: float | None = None) -> CycleResult:
    # Not logged here: the scheduler says "cycle skipped" once per window (it asks every poll).
    journal.mark_rejected(topic_id, nonce, error=reason)
    return CycleResult(topic_id, nonce, outcome, detail=reason, data_age_seconds=data_age)


async def _dry_run_sign(client: ChainClient, topic_id: int, nonce: int, value: str):  # type: ignore[no-untyped-def]
    # Holding the wallet lock keeps the dry run from disturbing a concurrent real submission.
    async with client.allocator.lock:
        return await client.prepare(topic_id, nonce, value)

