"""deploy/grafana/allora-worker.json: valid, and every query names only metrics the worker exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.deploy.test_metrics_contract import exported_types, kind_of

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "allora-worker.json"


def exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["panels"], "a dashboard without panels"
    found = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(found) == sum(len(p.get("targets", [])) for p in dashboard["panels"]) >= 10
    return found


def test_every_dashboard_query_names_an_exported_metric() -> None:
    types = exported_types()
    for expr in exprs():
        names = set(re.findall(r"\b((?:allora_worker|process)_[a-z_]+)\b", expr))
        assert names, f"a panel query that reads no worker metric: {expr}"
        missing = sorted(n for n in names if kind_of(types, n) is None)
        assert not missing, f"{expr}: not exported: {missing}"


def test_the_dashboard_shows_health_and_earnings() -> None:
    joined = "\n".join(exprs())
    for metric in ("allora_worker_windows_without_success", "allora_worker_realized_loss_mean",
                   "allora_worker_score_ema", "allora_worker_active_set_lowest_score",
                   "allora_worker_runway_days", "allora_worker_balance_uallo"):
        assert metric in joined, metric
