"""The Prometheus rules pass promtool, and their unit tests show every alert firing and not firing."""

from __future__ import annotations

import subprocess

import yaml

from tests.dashboards.promql import DASHBOARDS, RULES, RULES_TEST, promtool, rules


def test_promtool_check_rules() -> None:
    done = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_test_rules() -> None:
    # promtool evaluates the rule groups in a random order at each step, as Prometheus runs them
    # independently; an alert that reads another group's recorded value passes some runs and
    # fails others. Twenty runs (about 3 s) catch that: it failed 6 runs in 40.
    for _ in range(20):
        done = subprocess.run([promtool(), "test", "rules", RULES_TEST.name], cwd=DASHBOARDS, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert {"DriftdModelDrifted", "DriftdModelPerformanceLow", "DriftdConsumerLagGrowing",
            "DriftdWebhookDeliveriesFailing", "DriftdDown", "DriftdEventsRejected"} <= alerts
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - firing == set(), f"never shown firing: {sorted(alerts - firing)}"
    assert alerts - quiet == set(), f"never shown quiet: {sorted(alerts - quiet)}"
    records = {rule["record"] for rule in rules() if "record" in rule}
    tested = {check["expr"] for case in yaml.safe_load(RULES_TEST.read_text())["tests"]
              for check in case.get("promql_expr_test", [])}
    assert tested <= records and tested, tested
