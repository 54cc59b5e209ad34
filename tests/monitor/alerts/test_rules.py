"""Alert rules: drift and performance, consecutive windows, cooldown in event time, min_events, ids, payload."""

from __future__ import annotations

import json

import pytest

from monitor.alerts.rules import alert_id, decide, holds
from monitor.config import parse_config
from monitor.judge.results import FeatureResult, Reason, WindowResult

HOUR = 3600.0


def model(consecutive: int = 1, cooldown: str = "0s", min_labels: int = 10):
    config = parse_config({
        "storage": {"url": "sqlite:///x.db"},
        "webhooks": {"retrain": {"url": "http://127.0.0.1:1/hook"}},
        "models": [{
            "name": "churn", "task": "binary_classification", "reference": {"events": 100},
            "features": [{"name": "age", "type": "numeric"}],
            "window": {"size": "1h", "min_events": 10},
            "drift": {"statistics": ["psi"], "rules": {"psi": 0.2}, "drift_share": 0.5},
            "performance": {"metrics": ["accuracy"], "min_labels": min_labels,
                            "rules": {"accuracy": {"below": 0.8}}},
            "alerts": {"consecutive_windows": consecutive, "cooldown": cooldown, "webhooks": ["retrain"]},
        }],
    }, "test.yaml")
    return config.models[0]


def window(i: int, drifted: bool = True, judged: bool = True, accuracy: float | None = None,
           labels: int = 0) -> WindowResult:
    psi = 0.31 if drifted else 0.01
    reasons = (Reason("age", "psi", psi, 0.2),) if drifted and judged else ()
    age = FeatureResult("age", "numeric", {"psi": psi}, {}, 0.0, (drifted if judged else None), reasons)
    return WindowResult("churn", i * HOUR, (i + 1) * HOUR, 500 if judged else 5, judged,
                        (1.0 if drifted else 0.0) if judged else None, drifted if judged else None, 3, (age,),
                        performance={} if accuracy is None else {"accuracy": accuracy}, labels=labels,
                        model_version="7")


REF = {"id": "churn@3", "created_at": "2025-11-01T12:00:00Z"}


def test_a_drifted_window_raises_a_drift_alert_with_the_contract_payload():
    alert = decide("drift", window(5), model(), [], [], reference=REF, fired_at=1763802302.4)
    assert alert is not None and alert.id == "drift:churn:18000:21600" == alert.payload["id"]
    body = alert.payload
    assert body["kind"] == "drift" and body["model"] == "churn" and body["model_version"] == "7"
    assert body["window"] == {"start": "1970-01-01T05:00:00Z", "end": "1970-01-01T06:00:00Z", "events": 500}
    assert body["reasons"] == [{"feature": "age", "statistic": "psi", "value": 0.31, "threshold": 0.2}]
    assert body["reference"] == REF and body["fired_at"] == "2025-11-22T09:05:02Z"
    json.dumps(body, allow_nan=False)


def test_no_alert_for_a_window_under_the_rules_or_unjudged():
    assert decide("drift", window(5, drifted=False), model(), [], [], reference=REF, fired_at=0) is None
    assert decide("drift", window(5, judged=False), model(), [], [], reference=REF, fired_at=0) is None
    assert not holds("performance", window(5, judged=False, accuracy=0.1, labels=100), model())


def test_consecutive_windows_must_all_hold_in_a_row():
    spec = model(consecutive=3)
    assert decide("drift", window(5), spec, [window(4)], [], reference=REF, fired_at=0) is None  # only 2 so far
    assert decide("drift", window(5), spec, [window(4), window(3, drifted=False)], [], reference=REF,
                  fired_at=0) is None
    assert decide("drift", window(5), spec, [window(4), window(3)], [], reference=REF, fired_at=0) is not None
    # an unjudged window in between is skipped, not counted
    assert decide("drift", window(5), spec, [window(4), window(3, judged=False), window(2)], [], reference=REF,
                  fired_at=0) is not None


def test_cooldown_is_measured_between_window_ends():
    spec = model(cooldown="3h")
    assert decide("drift", window(5), spec, [], [4 * HOUR], reference=REF, fired_at=0) is None        # 2h before: inside
    assert decide("drift", window(5), spec, [], [3 * HOUR], reference=REF, fired_at=0) is not None    # 3h: over
    assert decide("drift", window(5), spec, [], [6 * HOUR], reference=REF, fired_at=0) is not None    # its own end


def test_performance_alerts_need_min_labels_and_a_broken_rule():
    spec = model(min_labels=50)
    assert decide("performance", window(5, accuracy=0.6, labels=49), spec, [], [], reference=REF, fired_at=0) is None
    assert decide("performance", window(5, accuracy=0.9, labels=500), spec, [], [], reference=REF, fired_at=0) is None
    alert = decide("performance", window(5, accuracy=0.6, labels=50), spec, [], [], reference=REF, fired_at=0)
    assert alert is not None and alert.id == "performance:churn:18000:21600"
    assert alert.payload["reasons"] == [{"metric": "accuracy", "value": 0.6, "threshold": 0.8, "rule": "below"}]
    assert alert.payload["performance"] == {"accuracy": 0.6} and alert.payload["labels"] == 50


@pytest.mark.parametrize("start, end, expected", [(0.0, 60.0, "drift:m:0:60"), (0.5, 1.0, "drift:m:0.5:1")])
def test_alert_ids_are_deterministic(start, end, expected):
    assert alert_id("drift", "m", start, end) == expected
