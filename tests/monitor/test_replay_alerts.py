"""`driftd replay` writes the alerts of the windows it judges to the outbox, once, by the rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.replay import replay
from monitor.store import Store
from tests.fixtures.paths import ROOT

DATA = ROOT / "config" / "data"
# the sample drifts from 11:00; windows 11:00, 12:00 and 13:00 drift
DRIFTED_ENDS = ["2025-11-22T12:00:00Z", "2025-11-22T13:00:00Z", "2025-11-22T14:00:00Z"]


def config(tmp_path: Path, store_url: str, alerts: str) -> Path:
    path = tmp_path / "driftd.yaml"
    path.write_text(f"""
storage: {{url: "{store_url}"}}
webhooks: {{retrain: {{url: "http://127.0.0.1:9/hook"}}}}
models:
  - name: churn
    task: binary_classification
    reference: {{path: {DATA / "churn_reference.csv"}}}
    window: {{size: 1h, allowed_lateness: 5m, min_events: 200}}
    drift: {{statistics: [psi, chisquare], rules: {{psi: 0.2, chisquare: 0.001}}, drift_share: 0.3}}
    performance: {{metrics: [accuracy], min_labels: 50, rules: {{accuracy: {{below: 0.55}}}}}}
    alerts: {alerts}
""")
    return path


def stored(store_url: str) -> list[tuple[str, str]]:
    with Store.open(store_url) as store:
        return sorted((a.kind, a.id) for a in store.list_alerts("churn"))


def ends(alerts: list[tuple[str, str]], kind: str) -> list[float]:
    return sorted(float(i.split(":")[3]) for k, i in alerts if k == kind)


@pytest.mark.parametrize("alerts, drift_windows", [
    ("{consecutive_windows: 1, webhooks: [retrain]}", 3),
    ("{consecutive_windows: 2, webhooks: [retrain]}", 2),      # none for the first drifted window
    ("{consecutive_windows: 3, webhooks: [retrain]}", 1),
    ("{consecutive_windows: 4, webhooks: [retrain]}", 0),      # never three drifted windows before one
    ("{consecutive_windows: 1, cooldown: 2h, webhooks: [retrain]}", 2),  # 11:00 and 13:00; 12:00 in cooldown
])
def test_replay_raises_alerts_by_the_rules_and_only_once(tmp_path, store_url, alerts, drift_windows):
    path = config(tmp_path, store_url, alerts)
    with Store.open(store_url) as store:
        outcome = replay(load_config(path), DATA / "churn_events.jsonl", store)
    raised = stored(store_url)
    assert len(ends(raised, "drift")) == drift_windows == len([a for a in outcome.alerts if a.kind == "drift"])
    with Store.open(store_url) as store:
        again = replay(load_config(path), DATA / "churn_events.jsonl", store)
    assert again.alerts == [] and stored(store_url) == raised       # a second replay raises nothing new
    with Store.open(store_url) as store:
        windows = {w.end: w for w in store.list_windows("churn")}
        assert store.pending_deliveries("churn") == len(raised)
    for _, alert_id in raised:  # every alert belongs to a window that breaks its rule
        window = windows[float(alert_id.split(":")[3])]
        assert window.judged and (window.drifted if alert_id.startswith("drift") else
                                  window.performance["accuracy"] < 0.55 and window.labels >= 50)


def test_cooldown_keeps_the_alerts_apart(tmp_path, store_url):
    path = config(tmp_path, store_url, "{consecutive_windows: 1, cooldown: 2h, webhooks: [retrain]}")
    with Store.open(store_url) as store:
        replay(load_config(path), DATA / "churn_events.jsonl", store)
    drift = ends(stored(store_url), "drift")
    assert all(b - a >= 7200 for a, b in zip(drift, drift[1:]))


def test_status_lists_the_alerts_and_pending_deliveries(tmp_path, store_url):
    path = config(tmp_path, store_url, "{webhooks: [retrain]}")
    with Store.open(store_url) as store:
        replay(load_config(path), DATA / "churn_events.jsonl", store)
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "status", "-c", str(path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)["models"][0]
    drift = [a for a in model["alerts"] if a["kind"] == "drift"]
    assert [a["window_end"] for a in drift] == DRIFTED_ENDS[::-1]
    assert {a["state"] for a in model["alerts"]} == {"pending"}
    assert model["pending_deliveries"] == len(model["alerts"])
    assert drift[0]["deliveries"] == [{"webhook": "retrain", "state": "pending", "attempts": 0,
                                       "last_status": None, "last_error": None}]
