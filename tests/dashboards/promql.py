"""What the dashboards and rules query: their PromQL expressions and the metric names in them."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any, Iterator

import yaml
from tests.fixtures.paths import ROOT

DASHBOARDS = ROOT / "dashboards"
DASHBOARD_FILES = ("driftd-overview.json", "driftd-model.json")
RULES = DASHBOARDS / "driftd-rules.yml"
RULES_TEST = DASHBOARDS / "driftd-rules.test.yml"

CONTRACT_METRICS = frozenset({
    # docs/metrics.md, as exposed (counters with their _total suffix)
    "driftd_feature_drift", "driftd_feature_drift_pvalue", "driftd_feature_drifted", "driftd_feature_missing_ratio",
    "driftd_model_drift_share", "driftd_model_drifted", "driftd_prediction_drift", "driftd_model_performance",
    "driftd_window_events", "driftd_window_end_timestamp_seconds", "driftd_events_consumed_total",
    "driftd_events_rejected_total", "driftd_events_late_total", "driftd_windows_closed_total", "driftd_alerts_total",
    "driftd_webhook_deliveries_total", "driftd_webhook_pending", "driftd_labels_joined_total",
    "driftd_labels_expired_total", "driftd_label_join_pending", "driftd_consumer_lag",
    # the histogram driftd_batch_seconds is queried through its series
    "driftd_batch_seconds_bucket", "driftd_batch_seconds_sum", "driftd_batch_seconds_count",
})
ALLOWED_METRICS = CONTRACT_METRICS | {"up"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                       "bool", "offset", "inf", "nan", "Inf", "NaN"})
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*),\s*[A-Za-z_][\w]*\s*\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (function names, keywords, labels, durations left out).

    >>> sorted(metric_names('sum by (model, le) (rate(a_total{x="b{c}"}[$__rate_interval] offset 5m)) '
    ...                     '/ on (model) group_left(kind) b:rec > bool 1e-3 or vector(0) unless up'))
    ['a_total', 'b:rec', 'up']
    """
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name, call in _IDENTIFIER.findall(text) if not call and name not in _KEYWORDS}


def variable_metric_names(query: str) -> set[str]:
    """Metric names of a Grafana Prometheus variable query (``label_values(selector, label)`` or PromQL)."""
    match = _LABEL_VALUES.match(query)
    return metric_names(match.group(1)) if match else metric_names(query)


def load_dashboard(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row, including panels inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every query of every panel."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variable_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(variable name, query)`` of every query variable."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            yield variable["name"], query if isinstance(query, str) else query["query"]


def rules() -> list[dict[str, Any]]:
    """Every rule of driftd-rules.yml."""
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def promtool() -> str:
    """The promtool binary; its absence fails the test (``make services`` installs it)."""
    path = shutil.which("promtool")
    assert path, "promtool is not installed: run `make services` (apt-get install prometheus)"
    return path
