"""Metrics of docs/metrics.md: gauges follow the newest judged window, performance the newest with enough labels,
counters count, and the series bound drops (and counts) what exceeds it. A fresh registry per test."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.errors import DriftdError
from monitor.export.metrics import Metrics
from monitor.ingest.columns import PREDICTION
from monitor.judge.results import FeatureResult, WindowResult


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def feature(name, values, pvalues=None, missing=0.0, drifted=False, kind="numeric"):
    return FeatureResult(name, kind, values, pvalues or {}, missing, drifted)


def window(end, features=(), prediction=None, judged=True, events=1000, share=0.5, drifted=True, model="churn"):
    return WindowResult(model=model, start=end - 3600, end=end, events=events, judged=judged,
                        drift_share=share if judged else None, drifted=drifted if judged else None,
                        reference_version=1, features=tuple(features), prediction=prediction)


def samples(registry, name):
    """{labels as a sorted tuple of items: value} of every sample named ``name`` in the exposition."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels)


FIRST = window(
    7200,
    features=[feature("age", {"psi": 0.31, "ks": 0.12, "wasserstein": 0.4}, {"ks": 1e-9}, missing=0.1,
                      drifted=True),
              feature("plan", {"psi": 0.01, "chisquare": 3.5, "jensenshannon": 0.02}, {"chisquare": 0.2},
                      kind="categorical"),
              feature("tenure", {"psi": 0.05})],
    prediction=FeatureResult(PREDICTION, "numeric", {"psi": 0.05, "ks": 0.02}, {"ks": 0.3}, 0.0, False),
    events=48211, share=1 / 3, drifted=True)


def test_a_judged_window_exports_its_values(registry):
    metrics = Metrics(registry)
    metrics.observe_window(FIRST)
    assert value(registry, "driftd_feature_drift", model="churn", feature="age", statistic="psi") == 0.31
    assert value(registry, "driftd_feature_drift", model="churn", feature="plan", statistic="chisquare") == 3.5
    assert value(registry, "driftd_feature_drift_pvalue", model="churn", feature="age", statistic="ks") == 1e-9
    assert value(registry, "driftd_feature_drift_pvalue", model="churn", feature="plan", statistic="chisquare") == 0.2
    assert value(registry, "driftd_feature_drifted", model="churn", feature="age") == 1
    assert value(registry, "driftd_feature_drifted", model="churn", feature="plan") == 0
    assert value(registry, "driftd_feature_missing_ratio", model="churn", feature="age") == 0.1
    assert value(registry, "driftd_model_drift_share", model="churn") == 1 / 3
    assert value(registry, "driftd_model_drifted", model="churn") == 1
    assert value(registry, "driftd_window_events", model="churn") == 48211
    assert value(registry, "driftd_window_end_timestamp_seconds", model="churn") == 7200
    assert samples(registry, "driftd_prediction_drift") == {
        (("model", "churn"), ("statistic", "psi")): 0.05, (("model", "churn"), ("statistic", "ks")): 0.02}
    assert len(samples(registry, "driftd_feature_drift")) == 3 + 3 + 1


def test_pvalues_only_for_ks_and_chisquare(registry):
    metrics = Metrics(registry)
    metrics.observe_window(window(3600, [feature("age", {"psi": 0.1, "ks": 0.1}, {"ks": 0.5, "psi": 0.9})]))
    assert samples(registry, "driftd_feature_drift_pvalue") == {
        (("feature", "age"), ("model", "churn"), ("statistic", "ks")): 0.5}


def test_a_newer_window_replaces_the_models_series(registry):
    metrics = Metrics(registry)
    metrics.observe_window(FIRST)
    metrics.observe_window(window(10800, [feature("age", {"psi": 0.5}, drifted=True)], share=1.0, events=10))
    assert samples(registry, "driftd_feature_drift") == {
        (("feature", "age"), ("model", "churn"), ("statistic", "psi")): 0.5}
    assert samples(registry, "driftd_feature_drift_pvalue") == {}
    assert set(samples(registry, "driftd_feature_drifted")) == {(("feature", "age"), ("model", "churn"))}
    assert set(samples(registry, "driftd_feature_missing_ratio")) == {(("feature", "age"), ("model", "churn"))}
    assert samples(registry, "driftd_prediction_drift") == {}
    assert value(registry, "driftd_window_events", model="churn") == 10
    assert value(registry, "driftd_window_end_timestamp_seconds", model="churn") == 10800
    assert metrics.series == 1 + 1 + 1 + 4  # drift, drifted, missing, model-level four


def test_an_older_or_unjudged_window_changes_nothing(registry):
    metrics = Metrics(registry)
    metrics.observe_window(FIRST)
    before = generate_latest(registry)
    metrics.observe_window(window(3600, [feature("other", {"psi": 9.0})]))
    metrics.observe_window(window(10800, [feature("other", {"psi": 9.0})], judged=False, events=3))
    assert generate_latest(registry) == before


def test_the_same_window_again_updates(registry):
    metrics = Metrics(registry)
    metrics.observe_window(FIRST)
    metrics.observe_window(window(7200, [feature("age", {"psi": 0.7})]))
    assert samples(registry, "driftd_feature_drift") == {
        (("feature", "age"), ("model", "churn"), ("statistic", "psi")): 0.7}


def test_models_are_independent(registry):
    metrics = Metrics(registry)
    metrics.observe_window(FIRST)
    metrics.observe_window(window(3600, [feature("x", {"psi": 0.2})], model="fraud"))
    assert value(registry, "driftd_feature_drift", model="churn", feature="age", statistic="psi") == 0.31
    assert value(registry, "driftd_feature_drift", model="fraud", feature="x", statistic="psi") == 0.2


def test_nan_values_are_not_exported(registry):
    metrics = Metrics(registry)
    nan = math.nan
    metrics.observe_window(window(3600, [feature("age", {"psi": nan, "ks": 0.1}, {"ks": nan}, missing=nan)], share=nan,
                                  prediction=FeatureResult(PREDICTION, "numeric", {"psi": nan}, {}, 0.0, False)))
    assert samples(registry, "driftd_feature_drift") == {
        (("feature", "age"), ("model", "churn"), ("statistic", "ks")): 0.1}
    assert samples(registry, "driftd_feature_drift_pvalue") == {}
    assert samples(registry, "driftd_feature_missing_ratio") == {}
    assert samples(registry, "driftd_model_drift_share") == {}
    assert samples(registry, "driftd_prediction_drift") == {}
    assert value(registry, "driftd_feature_drifted", model="churn", feature="age") == 0


def test_performance_needs_enough_labels_and_the_newest_end(registry):
    metrics = Metrics(registry)
    metrics.observe_performance("churn", 3600, {"accuracy": 0.9, "f1": 0.8}, labels=50, min_labels=100)
    assert samples(registry, "driftd_model_performance") == {}
    metrics.observe_performance("churn", 3600, {"accuracy": 0.9, "f1": 0.8}, labels=100, min_labels=100)
    assert value(registry, "driftd_model_performance", model="churn", metric="accuracy") == 0.9
    metrics.observe_performance("churn", 0, {"accuracy": 0.1}, labels=500, min_labels=100)          # older
    metrics.observe_performance("churn", 7200, {"accuracy": 0.2}, labels=99, min_labels=100)        # too few
    assert value(registry, "driftd_model_performance", model="churn", metric="accuracy") == 0.9
    metrics.observe_performance("churn", 7200, {"accuracy": 0.7, "f1": math.nan}, labels=300, min_labels=100)
    assert samples(registry, "driftd_model_performance") == {(("metric", "accuracy"), ("model", "churn")): 0.7}
    metrics.observe_performance("churn", 7200, {"accuracy": 0.75, "f1": 0.6}, labels=400, min_labels=100)  # more labels
    assert value(registry, "driftd_model_performance", model="churn", metric="f1") == 0.6


def test_restore_sets_the_newest_in_any_order(registry):
    older = window(3600, [feature("age", {"psi": 0.1})])
    newer = window(7200, [feature("age", {"psi": 0.2})])
    newer = WindowResult(**{**newer.__dict__, "performance": {"accuracy": 0.8}, "labels": 300})
    older = WindowResult(**{**older.__dict__, "performance": {"accuracy": 0.6}, "labels": 300})
    unjudged = window(10800, [feature("age", {"psi": 9.0})], judged=False)
    metrics = Metrics(registry)
    metrics.restore([unjudged, newer, older], min_labels={"churn": 100})
    assert value(registry, "driftd_feature_drift", model="churn", feature="age", statistic="psi") == 0.2
    assert value(registry, "driftd_model_performance", model="churn", metric="accuracy") == 0.8
    other = CollectorRegistry()
    Metrics(other).restore([newer])  # no min_labels: no performance restored
    assert samples(other, "driftd_model_performance") == {}


def test_counters_increase_and_gauges_set(registry):
    metrics = Metrics(registry)
    metrics.consumed("ml.predictions", 10)
    metrics.consumed("ml.predictions", 5)
    metrics.rejected("ml.predictions", "not_json")
    metrics.rejected("ml.predictions", "not_json", 2)
    metrics.late("churn", 3)
    metrics.window_closed("churn")
    metrics.window_closed("churn")
    metrics.alert("churn", "drift")
    metrics.delivery("retrain", "retried")
    metrics.labels_joined("churn", 7)
    metrics.labels_expired("churn", 2)
    metrics.webhook_pending("retrain", 4)
    metrics.webhook_pending("retrain", 1)
    metrics.label_join_pending("churn", 12)
    metrics.observe_batch(0.02)
    metrics.observe_batch(5.0)
    assert value(registry, "driftd_events_consumed_total", topic="ml.predictions") == 15
    assert value(registry, "driftd_events_rejected_total", topic="ml.predictions", reason="not_json") == 3
    assert value(registry, "driftd_events_late_total", model="churn") == 3
    assert value(registry, "driftd_windows_closed_total", model="churn") == 2
    assert value(registry, "driftd_alerts_total", model="churn", kind="drift") == 1
    assert value(registry, "driftd_webhook_deliveries_total", webhook="retrain", outcome="retried") == 1
    assert value(registry, "driftd_labels_joined_total", model="churn") == 7
    assert value(registry, "driftd_labels_expired_total", model="churn") == 2
    assert value(registry, "driftd_webhook_pending", webhook="retrain") == 1
    assert value(registry, "driftd_label_join_pending", model="churn") == 12
    assert value(registry, "driftd_batch_seconds_count") == 2
    assert value(registry, "driftd_batch_seconds_bucket", le="0.025") >= 1
    assert value(registry, "driftd_batch_seconds_bucket", le="30.0") == 2


def test_invalid_label_values_and_negative_counts_are_refused(registry):
    metrics = Metrics(registry)
    with pytest.raises(DriftdError, match="outcome: expected one of delivered, retried, failed, got 'lost'"):
        metrics.delivery("retrain", "lost")
    with pytest.raises(DriftdError, match="kind: expected one of drift, performance"):
        metrics.alert("churn", "latency")
    with pytest.raises(DriftdError, match="driftd_events_consumed_total"):
        metrics.consumed("t", -1)
    with pytest.raises(DriftdError, match="max_series: expected a non-negative integer, got -1"):
        Metrics(CollectorRegistry(), max_series=-1)


def test_consumer_lag_is_set_and_removed_on_revoke(registry):
    metrics = Metrics(registry)
    metrics.consumer_lag("ml.predictions", 0, 120)
    metrics.consumer_lag("ml.predictions", 1, 5)
    assert value(registry, "driftd_consumer_lag", topic="ml.predictions", partition="0") == 120
    metrics.remove_consumer_lag("ml.predictions", 0)
    metrics.remove_consumer_lag("ml.predictions", 7)  # never assigned: nothing to do
    assert samples(registry, "driftd_consumer_lag") == {(("partition", "1"), ("topic", "ml.predictions")): 5}
    assert metrics.series == 1


def test_series_beyond_the_cap_are_dropped_and_counted(registry):
    metrics = Metrics(registry, max_series=3)
    for partition in range(5):
        metrics.consumer_lag("t", partition, 10)
    assert len(samples(registry, "driftd_consumer_lag")) == 3
    assert value(registry, "driftd_metric_series_dropped_total") == 2
    metrics.consumer_lag("t", 0, 99)  # an existing series keeps updating
    assert value(registry, "driftd_consumer_lag", topic="t", partition="0") == 99
    metrics.consumed("t")  # a new series of another metric is dropped too
    assert value(registry, "driftd_events_consumed_total", topic="t") is None
    assert value(registry, "driftd_metric_series_dropped_total") == 3
    metrics.remove_consumer_lag("t", 2)  # removal frees a place
    metrics.consumed("t")
    assert value(registry, "driftd_events_consumed_total", topic="t") == 1
    assert metrics.series == 3


def test_a_replaced_window_frees_its_places_before_taking_new_ones(registry):
    metrics = Metrics(registry, max_series=6)  # 4 model-level + 2 per single-statistic feature
    metrics.observe_window(window(3600, [feature("a", {"psi": 0.1})]))
    assert metrics.series == 7 - 1 and value(registry, "driftd_metric_series_dropped_total") == 1
    metrics.observe_window(window(7200, [feature("b", {"psi": 0.2})]))
    assert value(registry, "driftd_feature_drift", model="churn", feature="b", statistic="psi") == 0.2
    assert value(registry, "driftd_feature_drift", model="churn", feature="a", statistic="psi") is None
    assert metrics.series == 6


def test_default_registry_is_fresh_not_global():
    from prometheus_client import REGISTRY

    metrics = Metrics()
    assert metrics.registry is not REGISTRY
    metrics.consumed("t")
    assert REGISTRY.get_sample_value("driftd_events_consumed_total", {"topic": "t"}) is None
