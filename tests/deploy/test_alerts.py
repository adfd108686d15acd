"""The Prometheus alert rules: valid, unit-tested, on the contract's metrics, with runbooks that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.deploy.support import ALERTS, ALERTS_TEST, DOCS, require_tool

CONTRACT_METRICS = {
    "allora_worker_cycles_total",
    "allora_worker_submissions_total",
    "allora_worker_last_success_timestamp_seconds",
    "allora_worker_window_to_accepted_seconds",
    "allora_worker_data_age_seconds",
    "allora_worker_last_prediction",
    "allora_worker_balance_uallo",
    "allora_worker_loop_heartbeat_timestamp_seconds",
    "allora_worker_windows_without_success",
    "allora_worker_in_active_set",
    "allora_worker_runway_days",
    "process_start_time_seconds",
    "up",
}


def rules() -> list[dict]:
    """The alert rules, read line by line (no YAML library in the test extras; promtool checks the YAML).

    Every key this test reads is a one-line scalar in alerts.yml; a rule missing one fails below.
    """
    found: list[dict] = []
    for line in ALERTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*(- )?(alert|expr|severity|summary|description|runbook):\s*(.*)$", line)
        if not match:
            continue
        key, value = match.group(2), match.group(3).strip()
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        if key == "alert":
            found.append({"alert": value, "labels": {}, "annotations": {}})
        elif key == "expr":
            found[-1]["expr"] = value
        elif key == "severity":
            found[-1]["labels"]["severity"] = value
        else:
            found[-1]["annotations"][key] = value
    assert found, "no alert parsed"
    return found


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "test", "rules", ALERTS_TEST.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ALERTS_TEST.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    # The unit tests are only worth something if they fail when a rule drifts.
    promtool = require_tool("promtool", "prometheus")
    shutil.copy(ALERTS_TEST, tmp_path / ALERTS_TEST.name)
    broken = ALERTS.read_text().replace("allora_worker_balance_uallo < 1e18", "allora_worker_balance_uallo < 1e17")
    assert broken != ALERTS.read_text()
    (tmp_path / ALERTS.name).write_text(broken)
    result = subprocess.run(
        [promtool, "test", "rules", ALERTS_TEST.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "AlloraWorkerLowBalance" in result.stdout + result.stderr


def test_the_required_alerts_exist() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    required = {
        "AlloraWorkerNoAcceptedSubmission": "allora_worker_windows_without_success",
        "AlloraWorkerLoopStalled": "allora_worker_loop_heartbeat_timestamp_seconds",
        "AlloraWorkerLowBalance": "allora_worker_balance_uallo",
        "AlloraWorkerStaleData": "allora_worker_data_age_seconds",
        "AlloraWorkerRestartLoop": "changes(process_start_time_seconds",
        "AlloraWorkerTargetDown": "up{",
        "AlloraWorkerOutOfActiveSet": "allora_worker_in_active_set",
        "AlloraWorkerRunwayShort": "allora_worker_runway_days",
    }
    for name, needle in required.items():
        assert name in exprs, name
        assert needle in exprs[name], (name, exprs[name])


def test_alerts_use_only_contract_metrics_and_outcomes() -> None:
    outcomes = {
        "accepted",
        "already_submitted",
        "missed",
        "rejected",
        "failed",
        "skipped_data",
        "skipped_model",
        "dry_run",
    }
    functions = {"max", "min", "sum", "by", "increase", "time", "changes", "absent", "rate", "humanizeDuration"}
    for rule in rules():
        expr = re.sub(r"\{[^}]*\}", "", rule["expr"])
        expr = re.sub(r"\[[^\]]*\]", "", expr)
        names = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", expr)) - functions - {"instance", "topic", "job", "le"}
        names = {n for n in names if not re.fullmatch(r"e\d+", n)}
        assert names <= CONTRACT_METRICS, (rule["alert"], names - CONTRACT_METRICS)
        for match in re.findall(r'outcome=~?"([^"]+)"', rule["expr"]):
            assert set(match.split("|")) <= outcomes, (rule["alert"], match)


def _anchors(markdown: str) -> set[str]:
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def test_every_alert_has_severity_summary_and_a_runbook_section_that_exists() -> None:
    operations = (DOCS / "OPERATIONS.md").read_text(encoding="utf-8")
    anchors = _anchors(operations)
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        doc, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert doc == "docs/OPERATIONS.md"
        assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in OPERATIONS.md"
        assert f"`{rule['alert']}`" in operations, f"{rule['alert']} is not in the OPERATIONS.md alert table"
