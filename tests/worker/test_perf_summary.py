"""The performance summary (status, report, the page, the metrics) from the journal's totals.

`summarize` asks the database for counts, means and what was spent, and reads only the rows it
shows; these tests pin that its answer is the one the whole history gives (computed here from
the rows themselves), on both journal backends, and that one heartbeat's reads stay the same size
however long the history (#18: the daemon's RSS grew with the journal).
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from allora_worker.journal import CONFIRMED, Journal, Performance
from allora_worker.worker.metrics import WorkerMetrics
from allora_worker.worker.perf_summary import summarize
from allora_worker.worker.performance import PerformanceTracker

T0 = 1.7e9


@dataclass
class History:
    """What a journal holds, as generated (each list oldest first)."""

    performances: list[Performance]
    scores: dict[int, list[tuple[float, float | None, float | None]]]
    balances: list[tuple[float, int]]


# Balances around the split `balance_spent` makes at nine digits, and past 64 bits, before a walk.
_EDGE_BALANCES = [0, 7, 999_999_999, 1_000_000_000, 999_999_998, 1_000_000_000, 10**18 + 5, 10**18 + 4,
                  10**21, 10**21 - 10**9, 10**21 - 10**9 - 1, 10**21 - 2 * 10**9 + 5, 10**21 - 2 * 10**9 + 5,
                  3 * 10**20 + 999_999_999, 2 * 10**20 + 1_000_000_000, 10**27 - 1, 10**21]


def _history(seed: int, windows: int, heartbeats: int) -> History:
    """`windows` realized outcomes on topics 67 (network loss mostly known) and 68 (never), scores of
    67-69 at `heartbeats` times (some unread), and the wallet's balance at each heartbeat: the edge
    values, then fees with now and then a top-up or a large withdrawal."""
    rnd = random.Random(seed)
    perfs = []
    for topic in (67, 68):
        for i in range(windows):
            network = rnd.gauss(0, 0.01) if topic == 67 and rnd.random() < 0.8 else None
            loss = rnd.expovariate(10)
            loss_zero = loss if i % 10 == 0 else rnd.expovariate(10)  # a zero prediction ties: no win
            perfs.append(Performance(
                topic_id=topic, nonce=1000 + 10 * i, predicted=rnd.gauss(0, 0.01), realized=rnd.gauss(0, 0.01),
                network_value=network, loss_method="zptae", loss=loss,
                loss_zero=loss_zero, loss_network=None if network is None else rnd.expovariate(10),
                target_time=T0 + 600 * i, computed_at=T0 + 600 * i + 1))
    scores: dict[int, list[tuple[float, float | None, float | None]]] = {67: [], 68: [], 69: []}
    for topic, i in itertools.product(scores, range(heartbeats)):
        unread = rnd.random() < 0.05
        scores[topic].append((T0 + 60.0 * i + topic / 100, None if unread else rnd.gauss(0, 1),
                              None if unread or rnd.random() < 0.05 else rnd.gauss(-1, 1)))
    balance = 10**21 + 123_456_789
    balances = []
    for i in range(heartbeats):
        if i < len(_EDGE_BALANCES):
            balance = _EDGE_BALANCES[i]
        elif rnd.random() < 0.03:
            balance += rnd.randrange(10**19, 10**20)  # a top-up: not spending
        elif rnd.random() < 0.01:
            balance -= balance // 2  # a withdrawal: counted as spent, as before
        else:
            balance -= rnd.randrange(10**12, 10**16)  # a fee
        balances.append((T0 + 60.0 * i, balance))
    return History(perfs, scores, balances)


def _write(journal: Journal, history: History, seed: int) -> None:
    """Every row in one transaction, in shuffled order (the journal must order them itself)."""
    rows: list[tuple[str, tuple[Any, ...]]] = [
        ("INSERT INTO performance (topic_id, nonce, predicted, realized, network_value, loss_method, loss,"
         " loss_zero, loss_network, target_time, computed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
         (p.topic_id, p.nonce, p.predicted, p.realized, p.network_value, p.loss_method, p.loss, p.loss_zero,
          p.loss_network, p.target_time, p.computed_at)) for p in history.performances]
    rows += [("INSERT INTO scores (topic_id, at, score, lowest) VALUES (?,?,?,?)", (topic, *sample))
             for topic, samples in history.scores.items() for sample in samples]
    rows += [("INSERT INTO balances (at, uallo) VALUES (?,?)", (at, str(uallo))) for at, uallo in history.balances]
    random.Random(seed).shuffle(rows)
    with journal._tx() as db:
        for sql, args in rows:
            db.execute(sql, args)


def _mean(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _reference(history: History, topic_ids: list[int], recent: int) -> dict[str, object]:
    """What the summary was when it was computed in Python from every row (main before #18)."""
    perfs = sorted(history.performances, key=lambda p: (p.topic_id, p.nonce))
    topics: dict[int, dict[str, object]] = {}
    for topic_id in sorted(set(topic_ids) | {p.topic_id for p in perfs}):
        rows = [p for p in perfs if p.topic_id == topic_id]
        scores = sorted(history.scores.get(topic_id, []))
        score, lowest = (scores[-1][1], scores[-1][2]) if scores else (None, None)
        in_set = None if score is None or lowest is None else score >= lowest
        topics[topic_id] = {
            "evaluated": len(rows),
            "mean_loss": {"ours": _mean([p.loss for p in rows]), "zero": _mean([p.loss_zero for p in rows]),
                          "network": _mean([p.loss_network for p in rows if p.loss_network is not None])},
            "beats_zero": sum(p.loss < p.loss_zero for p in rows),
            "score": score, "lowest": lowest, "in_active_set": in_set,
            "margin": None if in_set is None else score - lowest,  # type: ignore[operator]
            "rows": [p.__dict__ for p in rows[-recent:]] if recent else [],
            "score_history": scores[-500:],
        }
    balances = sorted(history.balances)
    spent = sum(max(0, a[1] - b[1]) for a, b in itertools.pairwise(balances))
    span = balances[-1][0] - balances[0][0]
    per_day = spent / span * 86400.0 if span > 0 and spent > 0 else None
    wallet = {"balance_uallo": balances[-1][1], "net_change_uallo": balances[-1][1] - balances[0][1],
              "spent_uallo": spent, "per_day_uallo": per_day,
              "runway_days": balances[-1][1] / per_day if per_day else None, "history": balances[-1000:]}
    return {"topics": topics, "wallet": wallet}


def _means_approx(summary: dict[str, Any]) -> dict[str, Any]:
    """The means as pytest.approx: the database sums in its own order (SQLite 3.43+ and Python
    3.12+ also compensate float sums), so the last bits may differ; every other value is exact."""
    for t in summary["topics"].values():
        t["mean_loss"] = {k: v if v is None else pytest.approx(v, rel=1e-12, abs=0) for k, v in t["mean_loss"].items()}
    return summary


def _check_equivalence(journal: Journal) -> None:
    history = _history(seed=7, windows=300, heartbeats=1100)  # past the 500 scores and 1000 balances shown
    _write(journal, history, seed=7)
    topic_ids = [67, 69, 70]  # 68 is not configured (its realized rows still count); 70 has nothing yet
    assert history.balances[-1][1] > 2**64
    for recent in (48, 5, 0):
        expected = _means_approx(_reference(history, topic_ids, recent))
        assert summarize(journal, topic_ids, recent=recent) == expected
    # Without histories (the heartbeat's metrics): the same totals and latest values.
    lean = summarize(journal, topic_ids, recent=0, history=False)
    full = _reference(history, topic_ids, 0)
    for t in full["topics"].values():  # type: ignore[attr-defined]
        t["score_history"] = []
    full["wallet"]["history"] = []  # type: ignore[index]
    assert lean == _means_approx(full)


def test_the_summary_from_the_databases_totals_is_the_whole_historys_on_sqlite(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite") as journal:
        _check_equivalence(journal)


def test_the_summary_from_the_databases_totals_is_the_whole_historys_on_postgres(pg_url: str) -> None:
    from allora_worker.journal_pg import PostgresJournal

    journal = PostgresJournal(pg_url, fenced=False)
    try:
        _check_equivalence(journal)
    finally:
        journal.close()


def test_an_empty_journal_summarizes_to_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert summarize(journal, [67]) == {
            "topics": {67: {"evaluated": 0, "mean_loss": {"ours": None, "zero": None, "network": None},
                            "beats_zero": 0, "score": None, "lowest": None, "in_active_set": None,
                            "margin": None, "rows": [], "score_history": []}},
            "wallet": {"balance_uallo": None, "net_change_uallo": 0, "spent_uallo": 0, "per_day_uallo": None,
                       "runway_days": None, "history": []}}


# -- one heartbeat's reads ----------------------------------------------------------------------

_UNREALIZED = 6  # per topic: accepted windows whose horizon has not passed yet


def _daemon_journal(path: Path, windows: int) -> Journal:
    """A journal as the daemon leaves it after `windows` windows on topics 67 and 68: each window a
    confirmed submission with its signed tx, realized once its horizon passed (all but the last
    few), and one heartbeat's scores and balance."""
    history = _history(seed=windows, windows=windows - _UNREALIZED, heartbeats=windows)
    journal = Journal(path)
    _write(journal, history, seed=windows)
    with journal._tx() as db:
        for topic, i in itertools.product((67, 68), range(windows)):
            db.execute(
                "INSERT INTO submissions (topic_id, nonce, state, value, model_hash, data_window, txhash, tx_bytes,"
                " sequence, chain_code, height, attempts, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,0,?,1,?,?)",
                (topic, 1000 + 10 * i, CONFIRMED, f"{0.001 * (i % 7):.6f}", "ab" * 32,
                 f"replay:2026-01-01T00:00..2026-01-02T{i % 24:02d}:00#{'cd' * 8}", f"{i:064X}",
                 bytes(400), 2 * i + topic, 1001 + 10 * i, T0 + 600 * i, T0 + 600 * i + 5))
    return journal


def _heartbeat_read_peak(journal: Journal) -> int:
    """tracemalloc's peak, in bytes, of one heartbeat's journal reads: what the performance tracker
    still has to realize, per topic, and the summary the metrics export."""
    runtimes = [SimpleNamespace(topic_id=67), SimpleNamespace(topic_id=68)]  # only their topic ids are read
    tracker = PerformanceTracker(journal, client=None, runtimes=runtimes,  # type: ignore[arg-type]
                                 metrics=WorkerMetrics(), address="allo1test")

    def reads() -> None:
        assert [len(tracker.pending(topic)) for topic in (67, 68)] == [_UNREALIZED, _UNREALIZED]
        tracker.summary()

    reads()  # once before measuring: first-use caches (statements, imports) are not the history
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        reads()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.fixture()
def journals(tmp_path: Path) -> Iterator[tuple[Journal, Journal]]:
    short, long = _daemon_journal(tmp_path / "short.sqlite", 200), _daemon_journal(tmp_path / "long.sqlite", 2000)
    yield short, long
    short.close()
    long.close()


def test_a_heartbeats_journal_reads_do_not_grow_with_the_history(journals: tuple[Journal, Journal]) -> None:
    # Before #18 the tracker loaded every submission (signed tx included) and every realized
    # outcome, and the summary every outcome, score and balance: 10x the windows, ~10x the peak.
    short, long = (_heartbeat_read_peak(j) for j in journals)
    assert long < 1.5 * short, f"200 windows: {short / 1e3:.0f} kB, 2000 windows: {long / 1e3:.0f} kB"
