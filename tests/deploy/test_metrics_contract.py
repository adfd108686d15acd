"""The metrics the alert rules and OPERATIONS.md rely on are the ones the worker really exports."""

from __future__ import annotations

import re

from tests.deploy.support import ALERTS, DOCS


def exported_types() -> dict[str, str]:
    from allora_worker.worker.metrics import WorkerMetrics

    text = WorkerMetrics().render().decode()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M))


def _family(sample: str) -> str:
    for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def kind_of(types: dict[str, str], name: str) -> str | None:
    return types.get(name) or types.get(_family(name))


def test_every_metric_used_by_an_alert_is_exported() -> None:
    types = exported_types()
    used = set(re.findall(r"\b(allora_worker_[a-z_]+|process_start_time_seconds)\b", ALERTS.read_text()))
    assert used, "no metric found in the alert rules"
    missing = sorted(name for name in used if kind_of(types, name) is None)
    # process_start_time_seconds comes from prometheus_client's ProcessCollector: the worker's
    # private registry must include it, or the restart-loop alert can never fire.
    assert not missing, f"used by deploy/prometheus/alerts.yml but not exported: {missing}"


def test_every_metric_in_the_operations_table_is_exported() -> None:
    types = exported_types()
    table = (DOCS / "OPERATIONS.md").read_text()
    documented = set(re.findall(r"^\| `((?:allora_worker_|process_)[a-z_]+)` \| (\w+) \|", table, flags=re.M))
    assert len(documented) >= 10
    for name, kind in documented:
        exported = kind_of(types, name)
        assert exported is not None, f"{name} is documented but not exported"
        assert exported == kind, f"{name}: documented as {kind}, exported as {exported}"


def test_alert_outcomes_are_outcomes_the_worker_records() -> None:
    from allora_worker.worker.metrics import OUTCOMES

    for match in re.findall(r'outcome=~?"([^"]+)"', ALERTS.read_text()):
        assert set(match.split("|")) <= set(OUTCOMES), match
