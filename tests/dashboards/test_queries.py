"""Every PromQL expression of the dashboards and the rules uses only the metrics of docs/metrics.md."""

from __future__ import annotations

import pytest

from tests.dashboards.promql import (
    ALLOWED_METRICS, CONTRACT_METRICS, DASHBOARD_FILES, load_dashboard, metric_names, panel_queries, rules,
    variable_metric_names, variable_queries,
)


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_queries_use_contract_metrics(name: str) -> None:
    board = load_dashboard(name)
    queries = list(panel_queries(board))
    assert queries
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{name}: panel {title!r}: no metric found in {expr!r}"
        assert names <= CONTRACT_METRICS, f"{name}: panel {title!r} uses {sorted(names - CONTRACT_METRICS)}"
    for variable, query in variable_queries(board):
        names = variable_metric_names(query)
        assert names and names <= CONTRACT_METRICS, f"{name}: variable {variable!r}: {query!r}"


def test_dashboards_together_show_every_contract_metric() -> None:
    used = set()
    for name in DASHBOARD_FILES:
        for _, expr in panel_queries(load_dashboard(name)):
            used |= metric_names(expr)
    missing = CONTRACT_METRICS - used - {"driftd_batch_seconds_sum"}   # the histogram is shown by buckets and count
    assert not missing, f"no panel shows {sorted(missing)}"


def test_rules_use_contract_metrics_and_their_own_records() -> None:
    all_rules = rules()
    records = {rule["record"] for rule in all_rules if "record" in rule}
    assert records and all(r.startswith("driftd:") for r in records)
    for rule in all_rules:
        names = metric_names(rule["expr"])
        what = rule.get("alert") or rule["record"]
        assert names, f"{what}: no metric found in {rule['expr']!r}"
        assert names <= ALLOWED_METRICS | records, f"{what} uses {sorted(names - ALLOWED_METRICS - records)}"
        if "record" in rule:   # a recording rule reads raw metrics only
            assert names <= CONTRACT_METRICS, what
