"""`driftd run` end to end: the real broker, the real store, values checked against scipy and scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, roc_auc_score

from monitor.demo.synthetic import ChurnTraffic, write_reference_csv
from monitor.store import Store
from tests.daemon.harness import DaemonProcess, free_port, metric_values, wait_for, write_config

START = 1763798400.0  # 2025-11-22T08:00:00Z


def contract_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    ref_ok, cur_ok = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    edges = np.unique(np.quantile(ref_ok, np.linspace(0, 1, 11))[1:-1])
    r = np.append(np.bincount(np.searchsorted(edges, ref_ok, side="right"), minlength=edges.size + 1),
                  ref.size - ref_ok.size)
    c = np.append(np.bincount(np.searchsorted(edges, cur_ok, side="right"), minlength=edges.size + 1),
                  cur.size - cur_ok.size)
    rp, cp = np.maximum(r / r.sum(), 1e-4), np.maximum(c / c.sum(), 1e-4)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


@pytest.fixture
def kafka_client() -> str:
    """The daemon's `kafka.client`; the main end-to-end test runs with each."""
    return "kafka-python"


@pytest.fixture
def decode_workers() -> int:
    """The daemon's `kafka.decode_workers`; the main end-to-end test also runs decoding in the loop."""
    return 1


@pytest.fixture
def setup(kafka_broker, tmp_path, store_url, kafka_client, decode_workers):
    suffix = uuid.uuid4().hex[:8]
    topics = {"predictions": f"preds-{suffix}", "labels": f"labels-{suffix}"}
    kafka_broker.create_topic(topics["predictions"], partitions=4)
    kafka_broker.create_topic(topics["labels"], partitions=2)
    reference = tmp_path / "reference.csv"
    write_reference_csv(str(reference), ChurnTraffic(), 5000)
    port = free_port()
    config = write_config(tmp_path / "driftd.yaml", bootstrap=kafka_broker.bootstrap, topics=topics,
                          store_url=store_url, group=f"driftd-{suffix}", port=port, reference=reference,
                          extra_kafka=f"  client: {kafka_client}\n  decode_workers: {decode_workers}")
    return topics, config, port, reference


@pytest.mark.parametrize(("kafka_client", "decode_workers"),
                         [("kafka-python", 1), ("confluent", 1), ("kafka-python", 0)])
def test_drifting_traffic_is_judged_exactly(kafka_broker, tmp_path, store_url, setup):
    topics, config, port, reference = setup
    messages = list(ChurnTraffic().messages(START, 4 * 3600, 0.1, drift_at=START + 2 * 3600, label_delay_s=60))
    predictions = [m for m in messages if "features" in m]
    labels = [m for m in messages if "label" in m]
    for p in range(4):
        kafka_broker.produce(topics["predictions"], [json.dumps(m).encode() for m in predictions[p::4]], partition=p)
    kafka_broker.produce(topics["labels"], [json.dumps(m).encode() for m in labels], partition=0)

    daemon = DaemonProcess(config, tmp_path / "driftd.log", port).start()
    try:
        daemon.wait_ready()
        with Store.open(store_url) as store:
            windows = wait_for(lambda: len(store.list_windows("churn")) == 4 and store.list_windows("churn"),
                               120, lambda: f"4 judged windows\n{daemon.tail()}")
        by_start = {}
        for m in predictions:
            by_start.setdefault(np.floor(m["timestamp"] / 3600) * 3600, []).append(m)
        assert sorted(w.start for w in windows) == sorted(by_start)
        for w in windows:
            assert w.events == len(by_start[w.start]) and w.judged
        assert [w.drifted for w in sorted(windows, key=lambda w: w.start)] == [False, False, True, True]

        newest = max(windows, key=lambda w: w.start)
        events = by_start[newest.start]
        ref = pd.read_csv(reference)
        age = np.array([e["features"]["age"] for e in events], dtype=float)
        text = daemon.metrics()
        drift = metric_values(text, "driftd_feature_drift")
        assert drift[(("feature", "age"), ("model", "churn"), ("statistic", "psi"))] == pytest.approx(
            contract_psi(ref["age"].to_numpy(float), age), rel=1e-9)
        ks = stats.ks_2samp(ref["age"].to_numpy(float), age)
        assert drift[(("feature", "age"), ("model", "churn"), ("statistic", "ks"))] == pytest.approx(ks.statistic, rel=1e-9)
        pvalues = metric_values(text, "driftd_feature_drift_pvalue")
        assert pvalues[(("feature", "age"), ("model", "churn"), ("statistic", "ks"))] == pytest.approx(ks.pvalue, rel=1e-9)
        assert metric_values(text, "driftd_window_events") == {
            (("model", "churn"),): float(len(events))}
        consumed = metric_values(text, "driftd_events_consumed_total")
        assert consumed[(("topic", topics["predictions"]),)] == len(predictions)
        assert consumed[(("topic", topics["labels"]),)] == len(labels)

        # performance of every window equals scikit-learn on its joined pairs
        truth = {m["prediction_id"]: m["label"] for m in labels}
        def performance_ready():
            with Store.open(store_url) as store:
                stored = store.list_windows("churn")
            return all(w.labels == sum(e["prediction_id"] in truth for e in by_start[w.start]) for w in stored) and stored
        stored = wait_for(performance_ready, 60, lambda: f"labels joined\n{daemon.tail()}")
        for w in stored:
            pairs = [(e["prediction"], truth[e["prediction_id"]]) for e in by_start[w.start] if e["prediction_id"] in truth]
            scores = np.array([p for p, _ in pairs])
            y = np.array([t for _, t in pairs])
            assert w.performance["accuracy"] == pytest.approx(accuracy_score(y, scores >= 0.5), rel=1e-9)
            assert w.performance["roc_auc"] == pytest.approx(roc_auc_score(y, scores), rel=1e-9)
        # `driftd status` reads what the running daemon stored
        done = subprocess.run([sys.executable, "-m", "monitor.cli", "status", "-c", str(config), "--json"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)["models"][0]
        assert [w["events"] for w in status["windows"]] == [w.events for w in sorted(stored, key=lambda w: -w.end)]
        assert daemon.get("/healthz")[0] == 200
        stacks = daemon.stacks()                       # SIGUSR1: every thread's stack, and the daemon goes on
        assert 'File "' in stacks and "daemon.py" in stacks and daemon.proc.poll() is None
        assert daemon.get("/healthz")[0] == 200
        assert daemon.terminate() == 0                 # SIGTERM drains and exits 0
    finally:
        daemon.kill()
