"""Is it any good, and is it earning? Realized loss, the chain's scores, balance and runway.

For every accepted submission whose horizon has passed, the realized log-return is read from the
topic's own candles (the cache or the replay it predicted from), and the topic's loss function
(model/losses.py: the SDK reputer's defaults, by the name the chain's topic carries, without
importing the SDK) scores our value beside the zero baseline's and the network's combined inference
at that nonce. The chain's EMA score for us and the lowest in the active set say whether we are in
it and by how much; the balance history gives the spending rate and the runway. Everything is
stored in the journal database and summarised for `status`, `report`, the status page and the metrics.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from allora_worker.chain import errors as chain_errors
from allora_worker.chain.client import ChainClient
from allora_worker.chain.scores import inferer_score_ema, lowest_inferer_score, network_inference_at
from allora_worker.journal import Entry, Journal, Performance
from allora_worker.logging_setup import get_logger
from allora_worker.market.errors import DataUnavailable, MarketError
from allora_worker.model.losses import LossFn, UnknownLossMethod, loss_function
from allora_worker.secrets import describe
from allora_worker.worker.metrics import WorkerMetrics
from allora_worker.worker.perf_summary import summarize
from allora_worker.worker.topic import TopicRuntime

log = get_logger("worker.performance")



def prediction_time(data_window: str | None) -> datetime | None:
    """The open time of the last candle a prediction used, from the journal's data window
    (`source:first..last#hash`)."""
    if not data_window or ".." not in data_window:
        return None
    last = data_window.rsplit("..", 1)[1].split("#", 1)[0]
    try:
        moment = datetime.fromisoformat(last)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class PerformanceTracker:
    """Fills the journal's performance, scores and balances tables; one `update()` per heartbeat."""

    journal: Journal
    client: ChainClient
    runtimes: list[TopicRuntime]
    metrics: WorkerMetrics
    address: str
    _loss_method: dict[int, str] = field(default_factory=dict)
    # None: the topic's loss method is unknown, or undefined on its values (said once, at warning).
    _loss: dict[int, LossFn | None] = field(default_factory=dict)

    async def update(self, balance: int | None = None) -> None:
        """Scores of every topic and `balance` (read by the caller; None: not read) in one journal
        transaction, then the realized losses whose horizon passed."""
        scores: dict[int, tuple[float | None, float | None]] = {}
        for runtime in self.runtimes:
            try:
                scores[runtime.topic_id] = await self._score(runtime)
            except chain_errors.ChainError as exc:
                log.debug("topic %d: performance update postponed: %s", runtime.topic_id, describe(exc))
        self.journal.record_samples(balance=balance, scores=scores)
        for runtime in self.runtimes:
            if runtime.topic_id not in scores:
                continue
            try:
                await self._realize(runtime)
            except (chain_errors.ChainError, DataUnavailable, MarketError) as exc:
                log.debug("topic %d: performance update postponed: %s", runtime.topic_id, describe(exc))
        self.export()

    def record_balance(self, uallo: int) -> None:
        self.journal.record_balance(uallo)

    async def _score(self, runtime: TopicRuntime) -> tuple[float | None, float | None]:
        topic_id = runtime.topic_id
        score = await inferer_score_ema(self.client, topic_id, self.address)
        lowest = await lowest_inferer_score(self.client, topic_id)
        return score, lowest

    async def _realize(self, runtime: TopicRuntime) -> None:
        topic_id = runtime.topic_id
        pending = self.pending(topic_id)
        if not pending:
            return
        if topic_id not in self._loss_method:
            method = (await self.client.topic(topic_id)).loss_method or "zptae"
            self._loss_method[topic_id] = method
            try:
                self._loss[topic_id] = loss_function(method)
            except UnknownLossMethod as exc:
                self._no_losses(topic_id, str(exc))
        method, loss = self._loss_method[topic_id], self._loss[topic_id]
        if loss is None:
            return
        horizon = runtime.current_bundle().horizon_hours
        now = runtime.clock.now()
        for entry in pending:
            last_open = prediction_time(entry.data_window)
            if last_open is None:
                continue
            target_open = last_open + timedelta(hours=horizon)
            if target_open + timedelta(hours=1) > now:
                continue  # the horizon has not passed yet (entries are in nonce order: so neither later ones)
            realized = await asyncio.to_thread(_realized, runtime, last_open, horizon)
            if realized is None:
                continue
            predicted = float(entry.value)  # type: ignore[arg-type]
            network = await network_inference_at(self.client, topic_id, entry.nonce)
            try:
                ours, zero = loss(realized, predicted), loss(realized, 0.0)
                theirs = loss(realized, network) if network is not None else None
            except ValueError as exc:  # bce or poisson on a log-return: outside the loss's domain
                self._no_losses(topic_id, f"{method} is undefined on realized {realized:+.6f} "
                                          f"(predicted {predicted:+.6f}): {exc}")
                return
            perf = Performance(
                topic_id=topic_id, nonce=entry.nonce, predicted=predicted, realized=realized,
                network_value=network, loss_method=method, loss=ours, loss_zero=zero, loss_network=theirs,
                target_time=(target_open + timedelta(hours=1)).timestamp(), computed_at=time.time(),
            )
            self.journal.record_performance(perf)
            log.info("topic %d nonce %d: realized %+.6f vs our %+.6f: %s loss %.6g (zero %.6g, network %s)",
                     topic_id, entry.nonce, realized, predicted, method, perf.loss, perf.loss_zero,
                     f"{perf.loss_network:.6g}" if perf.loss_network is not None else "n/a")

    def _no_losses(self, topic_id: int, why: str) -> None:
        """Said once per topic: its realized losses are not computed for the rest of this run (the
        loss method is read once per run); its scores, the balance and the runway still are."""
        self._loss[topic_id] = None
        log.warning("topic %d: realized losses are not computed (scores, balance and runway are): %s",
                    topic_id, why)

    def pending(self, topic_id: int) -> list[Entry]:
        """The topic's accepted submissions not realized yet, oldest first. Only these rows are
        read: loading every submission and outcome each heartbeat grew the daemon with its history."""
        return self.journal.unrealized(topic_id)

    def summary(self) -> dict[str, object]:
        """What `export` publishes: the totals and latest values, without the recent rows and the
        histories the status page and `report` show (the metrics show none of them)."""
        return summarize(self.journal, [r.topic_id for r in self.runtimes], recent=0, history=False)

    def export(self) -> None:
        summary = self.summary()
        m = self.metrics
        for topic_id, t in summary["topics"].items():  # type: ignore[attr-defined]
            label = str(topic_id)
            for who in ("ours", "zero", "network"):
                value = t["mean_loss"][who]
                if value is not None:
                    m.realized_loss.labels(topic=label, who=who).set(value)
            m.realized_count.labels(topic=label).set(t["evaluated"])
            if t["score"] is not None:
                m.score_ema.labels(topic=label).set(t["score"])
            if t["lowest"] is not None:
                m.lowest_active_score.labels(topic=label).set(t["lowest"])
            if t["in_active_set"] is not None:
                m.in_active_set.labels(topic=label).set(1 if t["in_active_set"] else 0)
        wallet = summary["wallet"]
        if wallet["runway_days"] is not None:  # type: ignore[index]
            m.runway_days.set(wallet["runway_days"])  # type: ignore[index]
        m.fees_spent.set(wallet["spent_uallo"])  # type: ignore[index]


def _realized(runtime: TopicRuntime, last_open: datetime, horizon: int) -> float | None:
    """ln(close[last_open + horizon] / close[last_open]) from the topic's checked candles."""
    end = last_open + timedelta(hours=horizon + 1)
    window = runtime.provider.get_checked_window(horizon + 1, end)
    candles = window.candles
    i, j = candles.index_of(last_open), candles.index_of(last_open + timedelta(hours=horizon))
    if i is None or j is None:
        return None
    first, last = float(candles.close[i]), float(candles.close[j])
    if first <= 0 or last <= 0:
        return None
    value = float(np.log(last / first))
    return value if math.isfinite(value) else None
