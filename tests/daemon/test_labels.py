"""Labels joined to predictions whichever comes first; a window's performance follows its labels; TTL expiry."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from monitor.store import Store
from tests.daemon.harness import DaemonProcess, free_port, metric_values, wait_for, write_config


def test_labels_before_after_and_past_the_ttl(kafka_broker, tmp_path, store_url):
    suffix = uuid.uuid4().hex[:8]
    topics = {"predictions": f"preds-{suffix}", "labels": f"labels-{suffix}"}
    kafka_broker.create_topic(topics["predictions"], partitions=2)
    kafka_broker.create_topic(topics["labels"], partitions=1)
    rng = np.random.default_rng(4)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"x": rng.normal(size=1000), "prediction": rng.random(1000)}).to_csv(reference, index=False)
    port = free_port()
    config = write_config(tmp_path / "driftd.yaml", bootstrap=kafka_broker.bootstrap, topics=topics,
                          store_url=store_url, group=f"g-{suffix}", port=port, reference=reference,
                          session_timeout_ms=3000, window="{size: 1m, min_events: 10, idle_close: 3s}",
                          performance="{metrics: [accuracy, roc_auc], min_labels: 5, label_ttl: 15s}")
    start = np.floor(time.time() / 60) * 60 - 120  # a whole minute, two minutes ago
    scores = rng.random(150)
    truth = (rng.random(150) < scores).astype(int)
    predictions = [{"model": "churn", "prediction_id": f"p{i}", "timestamp": start + i * 0.3,
                    "features": {"x": float(rng.normal())}, "prediction": float(scores[i])} for i in range(150)]

    def labels(ids: range) -> list[bytes]:
        return [json.dumps({"model": "churn", "prediction_id": f"p{i}", "timestamp": time.time(),
                            "label": int(truth[i])}).encode() for i in ids]

    def window():
        with Store.open(store_url) as store:
            found = store.list_windows("churn")
        return found[0] if found else None

    kafka_broker.produce(topics["labels"], labels(range(0, 50)))       # labels first
    daemon = DaemonProcess(config, tmp_path / "driftd.log", port).start()
    try:
        daemon.wait_ready(90)
        time.sleep(2.5)                                                 # the labels wait in the store
        kafka_broker.produce(topics["predictions"], [json.dumps(p).encode() for p in predictions[0::2]], partition=0)
        kafka_broker.produce(topics["predictions"], [json.dumps(p).encode() for p in predictions[1::2]], partition=1)
        judged = wait_for(lambda: (w := window()) is not None and w.labels == 50 and w, 60,
                          lambda: f"the window judged with the 50 early labels\n{daemon.tail()}")
        assert judged.events == 150
        kafka_broker.produce(topics["labels"], labels(range(50, 100)))  # labels after their predictions
        refreshed = wait_for(lambda: (w := window()) is not None and w.labels == 100 and w, 30,
                             lambda: f"performance refreshed with 100 labels\n{daemon.tail()}")
        y, s = truth[:100], scores[:100]
        assert refreshed.performance["accuracy"] == pytest.approx(accuracy_score(y, s >= 0.5), rel=1e-9)
        assert refreshed.performance["roc_auc"] == pytest.approx(roc_auc_score(y, s), rel=1e-9)
        performance = metric_values(daemon.metrics(), "driftd_model_performance")
        assert performance[(("metric", "roc_auc"), ("model", "churn"))] == pytest.approx(roc_auc_score(y, s))

        expired = lambda: metric_values(daemon.metrics(), "driftd_labels_expired_total").get((("model", "churn"),), 0)
        wait_for(lambda: expired() >= 50, 40, lambda: f"the 50 unlabelled predictions expired\n{daemon.tail()}")
        kafka_broker.produce(topics["labels"], labels(range(100, 150)))  # too late: their predictions are gone
        wait_for(lambda: expired() >= 100, 40, lambda: f"the 50 late labels expired too\n{daemon.tail()}")
        assert window().labels == 100
        joined = metric_values(daemon.metrics(), "driftd_labels_joined_total")
        assert joined == {(("model", "churn"),): 100.0}
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
