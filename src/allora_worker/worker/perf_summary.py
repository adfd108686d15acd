"""The performance summary from the journal alone (no SDK, no chain, no pandas): realized losses,
scores and the active set per topic; balance, spending, runway. Read by `status` (which must stay
light), `report`, the status page and the metrics."""

from __future__ import annotations

import itertools

from allora_worker.journal import Journal

DAY = 86400.0


def summarize(journal: Journal, topic_ids: list[int] | None = None, recent: int = 48) -> dict[str, object]:
    """Per topic: realized losses (mean and recent rows), scores and the active set; the wallet's
    balance history, spending rate and runway. Plain data for status, report, page and metrics."""
    perfs = journal.performances()
    ids = sorted(set(topic_ids or []) | {p.topic_id for p in perfs})
    topics: dict[int, dict[str, object]] = {}
    for topic_id in ids:
        rows = [p for p in perfs if p.topic_id == topic_id]
        net = [p.loss_network for p in rows if p.loss_network is not None]
        scores = journal.scores(topic_id)
        score, lowest = (scores[-1][1], scores[-1][2]) if scores else (None, None)
        in_set = None if score is None or lowest is None else score >= lowest
        topics[topic_id] = {
            "evaluated": len(rows),
            "mean_loss": {
                "ours": _mean([p.loss for p in rows]),
                "zero": _mean([p.loss_zero for p in rows]),
                "network": _mean(net),
            },
            "beats_zero": sum(p.loss < p.loss_zero for p in rows),
            "score": score,
            "lowest": lowest,
            "in_active_set": in_set,
            "margin": None if in_set is None else score - lowest,  # type: ignore[operator]
            "rows": [p.__dict__ for p in rows[-recent:]] if recent else [],
            "score_history": scores[-500:],
        }
    return {"topics": topics, "wallet": wallet_summary(journal.balances())}


def wallet_summary(history: list[tuple[float, int]]) -> dict[str, object]:
    """Balance now, net change, what was spent (the sum of decreases: top-ups are not income
    spent), the spending rate per day over the history, and the runway in days at that rate."""
    if not history:
        return {"balance_uallo": None, "net_change_uallo": 0, "spent_uallo": 0, "per_day_uallo": None,
                "runway_days": None, "history": []}
    spent = sum(max(0, a[1] - b[1]) for a, b in itertools.pairwise(history))
    span = history[-1][0] - history[0][0]
    per_day = spent / span * DAY if span > 0 and spent > 0 else None
    balance = history[-1][1]
    return {
        "balance_uallo": balance,
        "net_change_uallo": balance - history[0][1],
        "spent_uallo": spent,
        "per_day_uallo": per_day,
        "runway_days": balance / per_day if per_day else None,
        "history": history[-1000:],
    }


def _mean(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None
