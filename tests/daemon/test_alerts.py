"""Alerts end to end: the real broker, store and an HTTP receiver started by the test.

- the receiver answers 503 for the first 60 s: every alert arrives afterwards, one body per id;
- `kill -9` between sending and recording: the alert is sent again with the same id;
- drift alerts for drifted windows, performance alerts once labels arrive, none for the others.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from monitor.alerts.webhooks import verify
from monitor.demo.synthetic import ChurnTraffic, write_reference_csv
from monitor.store import Store
from tests.daemon.harness import DaemonProcess, free_port, metric_values, wait_for, write_config
from tests.fixtures.receiver import Receiver

START = 1763798400.0  # 2025-11-22T08:00:00Z
SECRET = "alert-test-secret"
DRIFT_IDS = [f"drift:churn:{int(START + h * 3600)}:{int(START + (h + 1) * 3600)}" for h in (2, 3)]
PERFORMANCE_IDS = [i.replace("drift:", "performance:") for i in DRIFT_IDS]


def start(kafka_broker, tmp_path, store_url, receiver: Receiver, *, labels: bool = True,
          retry: str = "retry_initial: 1s, retry_max: 4s") -> tuple[DaemonProcess, dict]:
    suffix = uuid.uuid4().hex[:8]
    topics = {"predictions": f"preds-{suffix}", "labels": f"labels-{suffix}"}
    kafka_broker.create_topic(topics["predictions"], partitions=2)
    kafka_broker.create_topic(topics["labels"], partitions=1)
    reference = tmp_path / "reference.csv"
    write_reference_csv(str(reference), ChurnTraffic(), 5000)
    port = free_port()
    config = write_config(
        tmp_path / "driftd.yaml", bootstrap=kafka_broker.bootstrap, topics=topics, store_url=store_url,
        group=f"g-{suffix}", port=port, reference=reference, session_timeout_ms=3000,
        performance="{metrics: [accuracy], min_labels: 50, label_ttl: 1h, rules: {accuracy: {below: 0.6}}}",
        alerts="{consecutive_windows: 1, webhooks: [retrain]}",
        webhooks=f"{{retrain: {{url: '{receiver.url}/hook', secret: {SECRET}, timeout: 2s, max_attempts: 100, {retry}}}}}",
    )
    messages = list(ChurnTraffic().messages(START, 4 * 3600, 0.1, drift_at=START + 2 * 3600, label_delay_s=60))
    predictions = [m for m in messages if "features" in m]
    for p in range(2):
        kafka_broker.produce(topics["predictions"], [json.dumps(m).encode() for m in predictions[p::2]], partition=p)
    if labels:
        kafka_broker.produce(topics["labels"], [json.dumps(m).encode() for m in messages if "label" in m])
    daemon = DaemonProcess(config, tmp_path / "driftd.log", port).start()
    return daemon, {"config": config, "topics": topics}


@pytest.mark.slow
def test_a_receiver_down_for_a_minute_gets_every_alert_once(kafka_broker, tmp_path, store_url):
    receiver = Receiver()
    opened_at = time.time() + 60.0
    receiver.answer = lambda seen: 503 if time.time() < opened_at else 200
    receiver.start()
    daemon, setup = start(kafka_broker, tmp_path, store_url, receiver)
    try:
        daemon.wait_ready(90)
        expected = sorted(DRIFT_IDS + PERFORMANCE_IDS)
        wait_for(lambda: sorted(receiver.accepted) == expected, 150,
                 lambda: f"the four alerts accepted (got {sorted(receiver.accepted)})\n{daemon.tail()}")
        assert min(r.at for r in receiver.requests) < opened_at  # they were tried while it was down
        for got in receiver.requests:
            verify(SECRET, got.body, got.headers["X-Driftd-Signature"])
            assert got.body == receiver.accepted[got.headers["Idempotency-Key"]]  # same bytes every attempt
        bodies = {i: json.loads(b) for i, b in receiver.accepted.items()}
        drift = bodies[DRIFT_IDS[0]]
        assert drift["kind"] == "drift" and drift["model"] == "churn" and drift["reasons"]
        assert drift["window"]["start"] == "2025-11-22T10:00:00Z" and drift["reference"]["id"] == "churn@1"
        performance = bodies[PERFORMANCE_IDS[1]]
        assert performance["reasons"][0]["metric"] == "accuracy" and performance["reasons"][0]["value"] < 0.6

        def settled():
            text = daemon.metrics()
            return (metric_values(text, "driftd_webhook_pending") == {(("webhook", "retrain"),): 0.0}
                    and metric_values(text, "driftd_webhook_deliveries_total").get(
                        (("outcome", "delivered"), ("webhook", "retrain"))) == 4.0 and text)
        text = wait_for(settled, 20, "the deliveries recorded in the metrics")
        alerts = metric_values(text, "driftd_alerts_total")
        assert alerts[(("kind", "drift"), ("model", "churn"))] == 2
        assert alerts[(("kind", "performance"), ("model", "churn"))] == 2
        assert metric_values(text, "driftd_webhook_deliveries_total")[
            (("outcome", "retried"), ("webhook", "retrain"))] >= 4
        done = subprocess.run([sys.executable, "-m", "monitor.cli", "status", "-c", str(setup["config"]), "--json"],
                              capture_output=True, text=True, timeout=60)
        status = json.loads(done.stdout)["models"][0]
        assert sorted(a["id"] for a in status["alerts"]) == expected
        assert {a["state"] for a in status["alerts"]} == {"delivered"} and status["pending_deliveries"] == 0
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
        receiver.stop()


def test_killed_between_sending_and_recording_the_alert_is_sent_again(kafka_broker, tmp_path, store_url):
    receiver = Receiver(hold=True).start()
    daemon, setup = start(kafka_broker, tmp_path, store_url, receiver, labels=False)
    try:
        daemon.wait_ready(90)
        wait_for(receiver.held.is_set, 120, lambda: f"the first alert posted\n{daemon.tail()}")
        first = receiver.ids()[0]
        daemon.kill()                                  # kill -9 while the request is in flight
        receiver.release()
        with Store.open(store_url) as store:
            [stored] = [a for a in store.list_alerts("churn") if a.id == first]
            assert stored.state == "pending" and store.list_attempts(first) == []
        daemon.start()
        daemon.wait_ready(90)
        wait_for(lambda: sorted(receiver.accepted) == DRIFT_IDS and receiver.ids().count(first) == 2, 60,
                 lambda: f"the first alert sent again, with the same id, and the second one\n{daemon.tail()}")
        with Store.open(store_url) as store:
            assert {a.id: a.state for a in store.list_alerts("churn")} == {i: "delivered" for i in DRIFT_IDS}
            assert [a["outcome"] for a in store.list_attempts(first)] == ["delivered"]
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
        receiver.stop()
