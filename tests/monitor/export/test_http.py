"""The HTTP endpoint against real sockets on 127.0.0.1: /metrics exposes every metric of docs/metrics.md,
/healthz and /readyz follow their callables, other paths and methods are refused, and stop() frees the port."""

from __future__ import annotations

import gzip
import socket
import threading

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.errors import DriftdError
from monitor.export.http import HttpServer
from monitor.export.metrics import Metrics
from monitor.ingest.columns import PREDICTION
from monitor.judge.results import FeatureResult, WindowResult
from tests.fixtures.http import http_request

CONTRACT_SERIES = {  # exposed sample name -> label names, docs/metrics.md
    "driftd_feature_drift": {"model", "feature", "statistic"},
    "driftd_feature_drift_pvalue": {"model", "feature", "statistic"},
    "driftd_feature_drifted": {"model", "feature"},
    "driftd_feature_missing_ratio": {"model", "feature"},
    "driftd_model_drift_share": {"model"},
    "driftd_model_drifted": {"model"},
    "driftd_prediction_drift": {"model", "statistic"},
    "driftd_model_performance": {"model", "metric"},
    "driftd_window_events": {"model"},
    "driftd_window_end_timestamp_seconds": {"model"},
    "driftd_events_consumed_total": {"topic"},
    "driftd_events_rejected_total": {"topic", "reason"},
    "driftd_events_late_total": {"model"},
    "driftd_windows_closed_total": {"model"},
    "driftd_alerts_total": {"model", "kind"},
    "driftd_webhook_deliveries_total": {"webhook", "outcome"},
    "driftd_webhook_pending": {"webhook"},
    "driftd_labels_joined_total": {"model"},
    "driftd_labels_expired_total": {"model"},
    "driftd_label_join_pending": {"model"},
    "driftd_consumer_lag": {"topic", "partition"},
    "driftd_batch_seconds_count": set(),
    "driftd_batch_seconds_sum": set(),
    "driftd_batch_seconds_bucket": {"le"},
    "driftd_metric_series_dropped_total": set(),
}


class Flag:
    """A health callable the test toggles, or makes raise."""

    def __init__(self, value=True):
        self.value = value

    def __call__(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@pytest.fixture
def health():
    return Flag(True), Flag(False)


@pytest.fixture
def server(health):
    registry = CollectorRegistry()
    srv = HttpServer("127.0.0.1", 0, registry, healthy=health[0], ready=health[1])
    srv.start()
    yield srv
    srv.stop()


def request(srv, method, path, headers=None):
    return http_request(srv.port, path, method, headers, timeout_s=5)


def exercise(metrics):
    """Call every update method once."""
    metrics.observe_window(WindowResult(
        model="churn", start=0, end=3600, events=500, judged=True, drift_share=0.5, drifted=True, reference_version=1,
        features=(FeatureResult("age", "numeric", {"psi": 0.3, "ks": 0.2}, {"ks": 0.01}, 0.0, True),),
        prediction=FeatureResult(PREDICTION, "numeric", {"psi": 0.1}, {}, 0.0, False)))
    metrics.observe_performance("churn", 3600, {"accuracy": 0.9}, labels=300, min_labels=100)
    metrics.consumed("ml.predictions", 3)
    metrics.rejected("ml.predictions", "not_json")
    metrics.late("churn")
    metrics.window_closed("churn")
    metrics.alert("churn", "drift")
    metrics.delivery("retrain", "delivered")
    metrics.webhook_pending("retrain", 0)
    metrics.labels_joined("churn", 2)
    metrics.labels_expired("churn", 1)
    metrics.label_join_pending("churn", 5)
    metrics.consumer_lag("ml.predictions", 0, 42)
    metrics.observe_batch(0.01)


def test_metrics_exposes_every_contract_metric_with_its_labels(server):
    metrics = Metrics(server.registry)
    exercise(metrics)
    status, headers, body = request(server, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                found.setdefault(sample.name, set()).update(sample.labels)
    assert found == CONTRACT_SERIES


def test_metrics_in_openmetrics_and_gzip(server):
    Metrics(server.registry).consumed("t", 2)
    status, headers, body = request(server, "GET", "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert b'driftd_events_consumed_total{topic="t"} 2.0' in body and body.endswith(b"# EOF\n")
    status, headers, body = request(server, "GET", "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b'driftd_events_consumed_total{topic="t"} 2.0' in gzip.decompress(body)


def test_healthz_and_readyz_follow_their_callables(server, health):
    healthy, ready = health
    assert request(server, "GET", "/healthz")[::2] == (200, b"ok")
    assert request(server, "GET", "/readyz")[::2] == (503, b"not ready")
    ready.value = True
    assert request(server, "GET", "/readyz")[::2] == (200, b"ready")
    healthy.value = False
    assert request(server, "GET", "/healthz")[0] == 503
    assert request(server, "GET", "/readyz?verbose=1")[0] == 200


def test_head_answers_without_a_body(server, health):
    health[1].value = True
    status, headers, body = request(server, "HEAD", "/readyz")
    assert (status, body, headers["Content-Length"]) == (200, b"", "5")
    assert request(server, "HEAD", "/healthz")[::2] == (200, b"")


def test_a_raising_callable_answers_503_and_the_server_keeps_serving(server, health):
    health[0].value = RuntimeError("store gone")
    health[1].value = RuntimeError("store gone")
    assert request(server, "GET", "/healthz")[0] == 503
    assert request(server, "GET", "/readyz")[0] == 503
    health[0].value = True
    assert request(server, "GET", "/healthz")[0] == 200


def test_unknown_paths_and_methods(server):
    assert request(server, "GET", "/")[0] == 404
    assert request(server, "GET", "/metricsx")[0] == 404
    status, headers, _ = request(server, "POST", "/metrics")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert request(server, "DELETE", "/healthz")[0] == 405
    assert request(server, "PUT", "/readyz")[0] == 405
    assert request(server, "POST", "/nowhere")[0] == 404


def test_stop_releases_the_port():
    srv = HttpServer("127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: True)
    srv.start()
    port = srv.port
    assert port != 0 and request(srv, "GET", "/healthz")[0] == 200
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    again = HttpServer("127.0.0.1", port, CollectorRegistry(), lambda: True, lambda: True)
    again.start()
    try:
        assert again.port == port and request(again, "GET", "/healthz")[0] == 200
    finally:
        again.stop()


def test_a_port_in_use_raises_a_driftd_error_naming_it(server):
    other = HttpServer("127.0.0.1", server.port, CollectorRegistry(), lambda: True, lambda: True)
    with pytest.raises(DriftdError, match=f"127.0.0.1:{server.port}"):
        other.start()


def test_no_request_lines_on_stderr(server, capfd):
    request(server, "GET", "/healthz")
    request(server, "GET", "/nowhere")
    assert capfd.readouterr().err == ""


def test_scrapes_while_windows_replace_each_other(server):
    """A scrape during updates always parses and never sees the features of two windows at once."""
    metrics = Metrics(server.registry)
    stop, errors, scrapes = threading.Event(), [], []

    def scrape():
        while not stop.is_set():
            try:
                body = request(server, "GET", "/metrics")[2].decode()
                names = {s.labels.get("feature") for f in text_string_to_metric_families(body) for s in f.samples
                         if s.name == "driftd_feature_drift"}
                scrapes.append(names)
            except Exception as exc:  # reported below
                errors.append(exc)

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        for i in range(200):
            names = ("a", "b") if i % 2 else ("c",)
            metrics.observe_window(WindowResult(
                model="m", start=i, end=i + 1, events=10, judged=True, drift_share=0.0, drifted=False,
                reference_version=1,
                features=tuple(FeatureResult(n, "numeric", {"psi": i}, {}, 0.0, False) for n in names)))
    finally:
        stop.set()
        thread.join()
    assert errors == [] and scrapes
    assert not [names for names in scrapes if "c" in names and names & {"a", "b"}]  # stale ones go first
    assert request(server, "GET", "/healthz")[0] == 200
