"""The performance summary from the journal alone (no SDK, no chain, no pandas): realized losses,
scores and the active set per topic; balance, spending, runway. Read by `status` (which must stay
light), `report`, the status page and the metrics.

The database computes the totals (counts, means, what was spent) and only the rows shown are
read: the heartbeat summarizes every hour of a months-long run, and loading the whole history
each time grew the daemon's memory with it (docs/BENCHMARKS.md, '500 windows with our own loss
functions')."""

from __future__ import annotations

from allora_worker.journal import Journal

DAY = 86400.0
# How much history a summary carries: the score samples per topic and the balance samples.
SCORE_HISTORY = 500
WALLET_HISTORY = 1000


def summarize(journal: Journal, topic_ids: list[int] | None = None, recent: int = 48,
              history: bool = True) -> dict[str, object]:
    """Per topic: realized losses (means over all, the last `recent` rows), scores and the active
    set; the wallet's balance, spending rate and runway. Plain data for status, report, page and
    metrics. `history=False` leaves out the score and balance histories (the metrics show only
    the latest values and the totals)."""
    totals = journal.performance_totals()
    ids = sorted(set(topic_ids or []) | set(totals))
    topics: dict[int, dict[str, object]] = {}
    for topic_id in ids:
        t = totals.get(topic_id)
        scores = journal.scores(topic_id, last=SCORE_HISTORY if history else 1)
        score, lowest = (scores[-1][1], scores[-1][2]) if scores else (None, None)
        in_set = None if score is None or lowest is None else score >= lowest
        rows = journal.performances(topic_id, last=recent) if recent and t is not None else []
        topics[topic_id] = {
            "evaluated": t.evaluated if t else 0,
            "mean_loss": {
                "ours": t.mean_loss if t else None,
                "zero": t.mean_loss_zero if t else None,
                "network": t.mean_loss_network if t else None,
            },
            "beats_zero": t.beats_zero if t else 0,
            "score": score,
            "lowest": lowest,
            "in_active_set": in_set,
            "margin": None if in_set is None else score - lowest,  # type: ignore[operator]
            "rows": [p.__dict__ for p in rows],
            "score_history": scores if history else [],
        }
    return {"topics": topics, "wallet": wallet_summary(journal, history)}


def wallet_summary(journal: Journal, history: bool = True) -> dict[str, object]:
    """Balance now, net change since the first sample, what was spent (the sum of decreases:
    top-ups are not income spent), the spending rate per day over the whole history, and the
    runway in days at that rate; with `history`, the last WALLET_HISTORY samples."""
    samples = journal.balances(last=WALLET_HISTORY if history else 1)
    if not samples:
        return {"balance_uallo": None, "net_change_uallo": 0, "spent_uallo": 0, "per_day_uallo": None,
                "runway_days": None, "history": []}
    first_at, first_balance = journal.balances(first=1)[0]
    spent = journal.balance_spent()
    span = samples[-1][0] - first_at
    per_day = spent / span * DAY if span > 0 and spent > 0 else None
    balance = samples[-1][1]
    return {
        "balance_uallo": balance,
        "net_change_uallo": balance - first_balance,
        "spent_uallo": spent,
        "per_day_uallo": per_day,
        "runway_days": balance / per_day if per_day else None,
        "history": samples if history else [],
    }
