"""Every dashboard query returns data from a real Prometheus scraping a real daemon on drifting traffic.

One daemon (the real `driftd run`) reads three hours of drifting churn traffic from the test broker,
with labels, a few unusable messages, one late event and a webhook; a real Prometheus scrapes it
every second with driftd-rules.yml loaded. Then every panel query of both dashboards, with
Grafana's variables filled in, must return data through /api/v1/query; the rules must evaluate
without error and DriftdModelDrifted must fire; and `promtool check metrics` must accept /metrics.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from monitor.demo.synthetic import ChurnTraffic, write_reference_csv
from tests.daemon.harness import DaemonProcess, free_port, wait_for, write_config
from tests.dashboards.promql import DASHBOARD_FILES, RULES, load_dashboard, panel_queries, promtool
from tests.dashboards.servers import PrometheusServer
from tests.fixtures.receiver import Receiver

START = 1763798400.0  # 2025-11-22T08:00:00Z
MODEL = "churn"
GRAFANA_VARIABLES = {"$model": MODEL, "$__rate_interval": "30s", "$__interval": "30s", "$__range": "1h"}
"""What Grafana would put in place of its variables ($datasource only picks the data source)."""


def substitute(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


def all_panel_queries() -> list[tuple[str, str, str]]:
    """``(dashboard, panel title, expr with variables filled in)`` of every panel query."""
    return [(name, title, substitute(expr)) for name in DASHBOARD_FILES
            for title, expr in panel_queries(load_dashboard(name))]


@pytest.fixture
def stack(kafka_broker: Any, tmp_path: Path) -> Iterator[tuple[DaemonProcess, PrometheusServer, Receiver, dict[str, str]]]:
    """Broker topics with drifting traffic, a webhook receiver, the daemon, and Prometheus scraping it."""
    suffix = uuid.uuid4().hex[:8]
    topics = {"predictions": f"preds-{suffix}", "labels": f"labels-{suffix}"}
    kafka_broker.create_topic(topics["predictions"], partitions=2)
    kafka_broker.create_topic(topics["labels"], partitions=1)
    reference = tmp_path / "reference.csv"
    write_reference_csv(str(reference), ChurnTraffic(), 3000)
    receiver = Receiver().start()
    port = free_port()
    config = write_config(
        tmp_path / "driftd.yaml", bootstrap=kafka_broker.bootstrap, topics=topics,
        store_url=f"sqlite:///{tmp_path}/driftd.db", group=f"driftd-{suffix}", port=port, reference=reference,
        performance="{metrics: [accuracy, roc_auc, brier], min_labels: 5, label_ttl: 1h}",
        limits="{max_pending_labels: 200}")   # small, so pending label joins expire (counted) in the test
    with open(config, "a") as f:              # the model's alerts go to a webhook: the delivery panels get data
        f.write(f"    alerts: {{webhooks: [retrain]}}\n"
                f"webhooks:\n  retrain: {{url: '{receiver.url}/hook'}}\n")

    messages = list(ChurnTraffic().messages(START, 3 * 3600, 0.1, drift_at=START + 3600, label_delay_s=60))
    predictions = [json.dumps(m).encode() for m in messages if "features" in m]
    labels = [json.dumps(m).encode() for m in messages if "label" in m]
    for p in range(2):
        kafka_broker.produce(topics["predictions"], predictions[p::2] + [b"not json", b'{"model": 7}'], partition=p)
    kafka_broker.produce(topics["labels"], labels, partition=0)

    prometheus = PrometheusServer(tmp_path, free_port(), f"127.0.0.1:{port}", [RULES])
    daemon = DaemonProcess(config, tmp_path / "driftd.log", port)
    try:
        prometheus.start()
        daemon.start()
        daemon.wait_ready()
        yield daemon, prometheus, receiver, topics
    finally:
        daemon.kill()
        prometheus.stop()
        receiver.stop()


def test_every_panel_query_returns_data(stack: Any, kafka_broker: Any) -> None:
    daemon, prometheus, receiver, topics = stack

    # 1. three windows judged (the last closes when the model goes idle) and scraped
    wait_for(lambda: prometheus.query(f'driftd_windows_closed_total{{model="{MODEL}"}} >= 3'), 90,
             lambda: f"3 windows closed, scraped by Prometheus\n{daemon.tail()}\n{prometheus.tail()}")
    # 2. an event for the first (closed) window: counted late
    late = {"model": MODEL, "prediction_id": "late-1", "timestamp": START + 60, "prediction": 0.5,
            "features": {"age": 40.0, "tenure": 10.0, "monthly_charges": 30.0, "plan": "gold", "region": "north"}}
    kafka_broker.produce(topics["predictions"], [json.dumps(late).encode()], partition=0)

    # 3. every panel query of both dashboards returns data
    queries = all_panel_queries()
    assert len(queries) > 40

    def empty() -> list[str]:
        return [f"{name} / {title}: {expr}" for name, title, expr in queries if not prometheus.query(expr)]

    try:
        wait_for(lambda: not empty(), 60, "every panel query to return data")
    except AssertionError:
        missing = "\n  ".join(empty())
        raise AssertionError(f"panel queries without data:\n  {missing}\n--- driftd log\n{daemon.tail()}") from None

    # 4. series that are preset at 0 show real values: half the predictions never get a label, so
    #    (bounded by max_pending_labels) some are always waiting
    wait_for(lambda: prometheus.query(f'driftd_label_join_pending{{model="{MODEL}"}} > 0'), 30,
             "driftd_label_join_pending > 0 (predictions are waiting for labels; is the gauge ever set?)")

    # 5. the rules load and evaluate, and the drift alert fires for the drifting model
    def evaluated() -> list[dict[str, Any]]:
        found = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        return found if found and all(r.get("lastEvaluation", "").startswith("20") for r in found) else []

    loaded = wait_for(evaluated, 30, "every rule evaluated")
    assert all(rule["health"] == "ok" for rule in loaded), [(r["name"], r.get("lastError")) for r in loaded]
    firing = wait_for(lambda: [a for a in prometheus.api("alerts")["alerts"]
                               if a["labels"]["alertname"] == "DriftdModelDrifted" and a["state"] == "firing"],
                      30, "DriftdModelDrifted firing")
    assert [a["labels"]["model"] for a in firing] == [MODEL]

    # 6. promtool accepts the daemon's exposition
    done = subprocess.run([promtool(), "check", "metrics"], input=daemon.metrics(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
