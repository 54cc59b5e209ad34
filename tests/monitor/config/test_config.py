"""monitor.config: every rule of docs/configuration.md, the exact key path of each problem, secrets never shown."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import (
    Bound, Config, DriftConfig, FrozenMap, LimitsConfig, ReferenceConfig, Secret, TopicsConfig,
    check_files, check_main, load_config, parse_config, redact,
)
from monitor.config.durations import format_duration, parse_duration
from monitor.errors import ConfigError, DriftdError
from tests.fixtures.paths import ROOT

REPO = ROOT
EXAMPLE = REPO / "config" / "example.yaml"
SECRET = "s3cr3t-Zq9x-DISTINCTIVE"


def minimal() -> dict[str, Any]:
    """The smallest valid configuration: one model, no Kafka, no webhooks."""
    return {"models": [{"name": "churn", "task": "binary_classification",
                        "reference": {"path": "ref.csv"}, "window": {"size": "1h"}}]}


def full() -> dict[str, Any]:
    """A configuration using every section, valid as it stands."""
    data = minimal()
    data["kafka"] = {"bootstrap_servers": "localhost:9092",
                     "topics": {"predictions": "ml.predictions", "labels": "ml.labels"}}
    data["webhooks"] = {"retrain": {"url": "https://ci.example.com/hooks/retrain", "secret": "${HOOK_SECRET}"}}
    data["models"][0]["alerts"] = {"webhooks": ["retrain"]}
    return data


def parse(data: object, env: dict[str, str] | None = None, base_dir: Path = Path("/srv/driftd")) -> Config:
    return parse_config(data, "test.yaml", {"HOOK_SECRET": SECRET} if env is None else env, base_dir)


def problems(data: object, env: dict[str, str] | None = None) -> dict[str, str]:
    """Parse data that must fail; return key_path -> message (one problem per key expected)."""
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    assert info.value.source == "test.yaml"
    found = dict(info.value.problems)
    assert len(found) == len(info.value.problems), info.value.problems
    return found


def only_problem(data: object, env: dict[str, str] | None = None) -> tuple[str, str]:
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def model_with(**changes: Any) -> dict[str, Any]:
    data = full()
    data["models"][0].update(changes)
    return data


# --- the good path and the defaults -----------------------------------------------------------

def test_minimal_config_gets_every_default() -> None:
    config = parse(minimal())
    assert config.source == "test.yaml"
    assert config.kafka is None
    assert config.storage.url == "sqlite:////srv/driftd/driftd.db"
    assert config.storage.echo is False
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9108)
    assert config.limits == LimitsConfig(1_048_576, 1000, 1_000_000, 50_000)
    assert dict(config.webhooks) == {}
    model = config.models[0]
    assert model.reference.path == Path("/srv/driftd/ref.csv")
    assert model.reference.format == "csv" and model.reference.events is None
    assert model.features is None
    assert model.window.size_s == 3600.0 and model.window.events is None
    assert model.window.allowed_lateness_s == 0.0 and model.window.min_events == 100
    assert model.window.idle_close_s == 3600.0
    assert model.drift == DriftConfig()
    assert model.drift.statistics == ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")
    assert dict(model.drift.rules) == {"psi": 0.2}
    assert (model.drift.drift_share, model.drift.bins, model.drift.sample_size) == (0.5, 10, 100_000)
    perf = model.performance
    assert perf.metrics == ("accuracy", "f1", "roc_auc")
    assert (perf.threshold, perf.label_ttl_s, perf.min_labels, perf.positive_label) == (0.5, 7 * 86400.0, 100, 1)
    assert dict(perf.rules) == {}
    assert (model.alerts.consecutive_windows, model.alerts.cooldown_s, model.alerts.webhooks) == (1, 0.0, ())


def test_default_metrics_follow_the_task() -> None:
    data = minimal()
    data["models"].append({**copy.deepcopy(data["models"][0]), "name": "kind", "task": "multiclass_classification"})
    data["models"].append({**copy.deepcopy(data["models"][0]), "name": "eta", "task": "regression"})
    config = parse(data)
    assert [m.performance.metrics for m in config.models] == [
        ("accuracy", "f1", "roc_auc"), ("accuracy", "f1"), ("mae", "rmse")]


def test_kafka_defaults_and_fields_mapping() -> None:
    data = full()
    data["kafka"]["fields"] = {"predictions": {"timestamp": "ts", "features": "inputs", "prediction": "score"},
                               "labels": {"label": "outcome"}}
    kafka = parse(data).kafka
    assert kafka is not None
    assert (kafka.group_id, kafka.start_from, kafka.security_protocol, kafka.client) == (
        "driftd", "earliest", "PLAINTEXT", "kafka-python")
    assert (kafka.session_timeout_ms, kafka.max_poll_records, kafka.dead_letter_topic) == (10000, 5000, None)
    assert kafka.decode_workers == 1
    assert kafka.topics == TopicsConfig("ml.predictions", None, "ml.labels")
    assert dict(kafka.fields.predictions) == {"timestamp": "ts", "features": "inputs", "prediction": "score"}
    assert dict(kafka.fields.labels) == {"label": "outcome"}
    assert dict(kafka.fields.features) == {}


def test_bootstrap_servers_may_be_a_list() -> None:
    data = full()
    data["kafka"]["bootstrap_servers"] = ["a:9092", "b:9092"]
    assert parse(data).kafka.bootstrap_servers == "a:9092,b:9092"


def test_example_yaml_parses_and_checks(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DRIFTD_WEBHOOK_SECRET", SECRET)
    config = load_config(EXAMPLE)
    assert [m.name for m in config.models] == ["churn", "delivery_eta"]
    churn, eta = config.models
    assert churn.reference.path == EXAMPLE.parent / "data" / "churn_reference.csv"
    assert churn.task == "binary_classification" and eta.task == "regression"
    assert config.webhooks["retrain"].secret.reveal() == SECRET
    assert config.storage.url == f"sqlite:///{EXAMPLE.parent}/driftd.db"
    assert parse_config(yaml.safe_load(EXAMPLE.read_text()), str(EXAMPLE), {"DRIFTD_WEBHOOK_SECRET": "x"},
                        EXAMPLE.parent) == dataclasses.replace(config, webhooks=FrozenMap(
                            {"retrain": dataclasses.replace(config.webhooks["retrain"], secret=Secret("x"))}))
    rc = check_main(str(EXAMPLE))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    if churn.reference.path.is_file():  # the lead ships config/data/churn_reference.csv
        assert (rc, out, err) == (0, f"{EXAMPLE}: ok (2 models)\n", "")
    else:
        assert rc == 2
        assert err == f"{EXAMPLE}: models[0].reference.path: no such file: {churn.reference.path}\n"


# --- reading files ----------------------------------------------------------------------------

def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - name: churn\n    task: [binary\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [(key, message)] = info.value.problems
    assert key == ""
    assert message.startswith("line 4, column 1: invalid YAML:"), message
    assert str(info.value).startswith(f"{path}: line 4, column 1: invalid YAML")


def test_yaml_with_a_bad_indent_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 1\n   host: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0][1].startswith("line 3, column 8: invalid YAML: mapping values are not allowed")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert str(info.value) == f"{path}: cannot read the configuration file: No such file or directory"
    assert isinstance(info.value, DriftdError)


def test_empty_file_and_non_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(path)
    assert only_problem(["models"]) == ("", "expected a mapping at the top level, got a list")


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump(minimal()) + "server: {port: 1}\nserver: {port: 2}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [(key, message)] = info.value.problems
    assert message.startswith("line ") and "duplicate key 'server'" in message


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "c.yaml").write_text(yaml.safe_dump(minimal()))
    monkeypatch.chdir(tmp_path)
    config = load_config("conf/c.yaml")
    assert config.source == "conf/c.yaml"
    assert config.models[0].reference.path == folder / "ref.csv"
    assert config.models[0].reference.path.is_absolute()
    assert config.storage.url == f"sqlite:///{folder}/driftd.db"


def test_storage_urls() -> None:
    def url(value: str) -> str:
        data = minimal()
        data["storage"] = {"url": value}
        return parse(data).storage.url

    assert url("sqlite:///data/x.db") == "sqlite:////srv/driftd/data/x.db"
    assert url("sqlite:////var/lib/x.db") == "sqlite:////var/lib/x.db"
    assert url("sqlite://") == "sqlite://"
    assert url("sqlite:///:memory:") == "sqlite:///:memory:"
    assert url("postgresql+psycopg://user:pw@db/driftd") == "postgresql+psycopg://user:pw@db/driftd"
    data = minimal()
    data["storage"] = {"url": "postgresql+psycopg://user:pw@db/driftd"}
    assert "pw" not in repr(parse(data).storage)


@pytest.mark.parametrize("value", ["not a url", "postgres://user@db/x", "nosuchdialect://x"])
def test_bad_storage_url(value: str) -> None:
    data = minimal()
    data["storage"] = {"url": value}
    assert only_problem(data) == ("storage.url", "expected a database URL like sqlite:///driftd.db or "
                                                 f"postgresql+psycopg://user@host/db, got {value!r}")


# --- key errors -------------------------------------------------------------------------------

def test_unknown_key_suggests_the_closest_and_lists_the_valid_ones() -> None:
    data = minimal()
    data["models"][0]["window"] = {"sise": "1h"}
    found = problems(data)
    assert found["models[0].window.sise"] == (
        "unknown key 'sise' (did you mean 'size'?); valid keys: size, events, allowed_lateness, min_events, idle_close, max_future")
    assert found["models[0].window"] == ("expected size (a time window like 1h) or events "
                                         "(a count window like 10000)")


def test_unknown_top_level_key() -> None:
    data = minimal()
    data["webhook"] = {}
    assert only_problem(data) == ("webhook", "unknown key 'webhook' (did you mean 'webhooks'?); "
                                             "valid keys: kafka, storage, server, limits, models, webhooks")


def test_required_keys() -> None:
    assert only_problem({"server": {}}) == ("models", "required key is missing")
    assert problems({"models": [{}]}) == {
        "models[0].name": "required key is missing", "models[0].task": "required key is missing",
        "models[0].reference": "required key is missing", "models[0].window": "required key is missing"}
    assert only_problem({"models": []}) == ("models", "expected at least one model")
    assert only_problem({"models": {"churn": {}}}) == ("models", "expected a list, got a mapping")


def test_every_problem_is_reported_at_once() -> None:
    data = full()
    data["server"] = {"port": 70000}
    data["models"][0]["window"] = {"size": "ten minutes"}
    data["models"][0]["task"] = "binary"
    data["models"][0]["drift"] = {"drift_share": 1.5}
    data["webhooks"]["retrain"]["url"] = "ftp://x"
    found = problems(data)
    assert found == {
        "webhooks.retrain.url": "expected an http(s) URL with a host, like https://ci.example.com/hooks/retrain, "
                                "got 'ftp://x'",
        "server.port": "expected a port number from 1 to 65535, got 70000",
        "models[0].task": "unknown task 'binary' (did you mean 'binary_classification'?); "
                          "expected one of binary_classification, multiclass_classification, regression",
        "models[0].window.size": "expected a duration like 10m, got 'ten minutes'",
        "models[0].drift.drift_share": "expected a share between 0 and 1, got 1.5",
    }


def test_error_text_names_file_key_and_value() -> None:
    data = minimal()
    data["models"][0]["window"] = {"size": "ten minutes"}
    with pytest.raises(ConfigError) as info:
        parse(data)
    assert str(info.value) == "test.yaml: models[0].window.size: expected a duration like 10m, got 'ten minutes'"


# --- values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("500ms", 0.5), ("30s", 30.0), ("10m", 600.0), ("1h", 3600.0),
                                           ("7d", 604800.0), ("1h30m", 5400.0), ("1.5h", 5400.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    data = minimal()
    data["models"][0]["window"] = {"size": text}
    assert parse(data).models[0].window.size_s == seconds


def test_format_duration_inverts_parse() -> None:
    for text in ("500ms", "30s", "10m", "1h", "7d"):
        assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("value, message", [
    ("ten minutes", "expected a duration like 10m, got 'ten minutes'"),
    ("10", "expected a duration like 10m, got '10'"),
    ("-5m", "expected a duration like 10m, got '-5m'"),
    (600, "expected a duration like 10m, got 600 (durations need a unit: 500ms, 30s, 10m, 1h, 7d)"),
    ("0s", "expected a duration greater than 0, got '0s'"),
])
def test_bad_durations(value: object, message: str) -> None:
    data = minimal()
    data["models"][0]["window"] = {"size": value}
    assert only_problem(data) == ("models[0].window.size", message)


def test_zero_is_a_valid_cooldown_and_lateness() -> None:
    data = minimal()
    data["models"][0]["window"] = {"size": "1h", "allowed_lateness": "0s"}
    data["models"][0]["alerts"] = {"cooldown": "0s"}
    model = parse(data).models[0]
    assert model.window.allowed_lateness_s == 0.0 and model.alerts.cooldown_s == 0.0


@pytest.mark.parametrize("section, key, value, message", [
    ("drift", "drift_share", -0.1, "expected a share between 0 and 1, got -0.1"),
    ("drift", "drift_share", "half", "expected a share between 0 and 1, got 'half'"),
    ("performance", "threshold", 1.01, "expected a share between 0 and 1, got 1.01"),
    ("drift", "bins", 1, "expected an integer from 2 to 1000, got 1"),
    ("drift", "bins", 1001, "expected an integer from 2 to 1000, got 1001"),
    ("drift", "sample_size", 99, "expected an integer of at least 100, got 99"),
    ("performance", "min_labels", 0, "expected a positive integer, got 0"),
    ("alerts", "consecutive_windows", -1, "expected a positive integer, got -1"),
    ("alerts", "consecutive_windows", True, "expected a positive integer, got True"),
    ("alerts", "consecutive_windows", 1.5, "expected a positive integer, got 1.5"),
    ("performance", "positive_label", 0.5, "expected a class label (a string, an integer or a boolean), got 0.5"),
])
def test_bad_model_values(section: str, key: str, value: object, message: str) -> None:
    data = minimal()
    data["models"][0][section] = {key: value}
    assert only_problem(data) == (f"models[0].{section}.{key}", message)


@pytest.mark.parametrize("key", ["max_message_bytes", "max_categories", "max_pending_labels", "max_metric_series"])
def test_limits_are_positive_integers(key: str) -> None:
    data = minimal()
    data["limits"] = {key: 0}
    assert only_problem(data) == (f"limits.{key}", "expected a positive integer, got 0")
    data["limits"] = {key: 7}
    assert getattr(parse(data).limits, key) == 7


def test_server_values() -> None:
    data = minimal()
    data["server"] = {"host": "", "port": "9108"}
    assert problems(data) == {"server.host": "expected a non-empty string, got ''",
                              "server.port": "expected a port number from 1 to 65535, got '9108'"}


def test_strings_must_be_strings() -> None:
    data = minimal()
    data["models"][0]["name"] = 123
    assert only_problem(data) == ("models[0].name", "expected a model name (letters, digits, _ . / -), "
                                                    "got 123 (quote it: \"123\")")


# --- models -----------------------------------------------------------------------------------

def test_duplicate_model_names() -> None:
    data = minimal()
    data["models"].append(copy.deepcopy(data["models"][0]))
    assert only_problem(data) == ("models[1].name", "duplicate model name 'churn' (also models[0])")


def test_features() -> None:
    data = minimal()
    data["models"][0]["features"] = [{"name": "age", "type": "numeric"}, {"name": "plan", "type": "categorical"}]
    features = parse(data).models[0].features
    assert [(f.name, f.type) for f in features] == [("age", "numeric"), ("plan", "categorical")]


def test_duplicate_and_bad_features() -> None:
    data = minimal()
    data["models"][0]["features"] = [{"name": "age", "type": "numeric"}, {"name": "age", "type": "numeric"},
                                     {"name": "plan", "type": "categoric"}, {"name": "label", "type": "numeric"},
                                     {"name": "x"}]
    assert problems(data) == {
        "models[0].features[1].name": "duplicate feature 'age' (also features[0])",
        "models[0].features[2].type": "unknown feature type 'categoric' (did you mean 'categorical'?); "
                                      "expected one of numeric, categorical",
        "models[0].features[3].name": "'label' is reserved for the label column of reference files",
        "models[0].features[4].type": "required key is missing",
    }
    data["models"][0]["features"] = []
    assert only_problem(data) == ("models[0].features", "expected at least one feature; leave features out to "
                                                        "infer them from the reference")


def test_critical_features_must_be_features_when_features_are_given() -> None:
    data = minimal()
    data["models"][0]["drift"] = {"critical_features": ["age", "agee"]}
    assert parse(data).models[0].drift.critical_features == ("age", "agee")  # features inferred later
    data["models"][0]["features"] = [{"name": "age", "type": "numeric"}, {"name": "plan", "type": "categorical"}]
    assert only_problem(data) == ("models[0].drift.critical_features[1]",
                                  "'agee' is not a feature of this model (did you mean 'age'?); features: age, plan")


def test_reference_needs_exactly_one_of_path_and_events() -> None:
    data = minimal()
    data["models"][0]["reference"] = {"path": "ref.csv", "events": 100}
    assert only_problem(data) == ("models[0].reference", "give either path or events, not both")
    data["models"][0]["reference"] = {"format": "csv"}
    assert only_problem(data) == ("models[0].reference", "expected path (a file to read) or events "
                                                         "(a count of first live events)")
    data["models"][0]["reference"] = {"events": 0}
    assert only_problem(data) == ("models[0].reference.events", "expected a positive integer, got 0")
    data["models"][0]["reference"] = {"events": 5000, "format": "csv"}
    assert only_problem(data) == ("models[0].reference.format",
                                  "only applies to a reference read from a file (reference.path)")
    data["models"][0]["reference"] = {"events": 5000}
    assert parse(data).models[0].reference == ReferenceConfig(None, 5000, None)


@pytest.mark.parametrize("path, fmt", [("r.csv", "csv"), ("r.CSV", "csv"), ("r.csv.gz", "csv"),
                                       ("r.parquet", "parquet"), ("r.pq", "parquet"), ("r.jsonl", "jsonl"),
                                       ("r.ndjson", "jsonl"), ("/abs/r.jsonl.gz", "jsonl")])
def test_reference_format_from_extension(path: str, fmt: str) -> None:
    data = minimal()
    data["models"][0]["reference"] = {"path": path}
    reference = parse(data).models[0].reference
    assert reference.format == fmt
    assert reference.path == Path("/srv/driftd") / path


def test_reference_format_unknown_extension() -> None:
    data = minimal()
    data["models"][0]["reference"] = {"path": "data/ref.txt"}
    assert only_problem(data) == ("models[0].reference.path", "cannot tell the format of 'data/ref.txt' from its "
                                                              "extension; set reference.format to one of csv, "
                                                              "parquet, jsonl")
    data["models"][0]["reference"] = {"path": "data/ref.txt", "format": "jsonl"}
    assert parse(data).models[0].reference.format == "jsonl"
    data["models"][0]["reference"] = {"path": "data/ref.txt", "format": "xlsx"}
    assert only_problem(data) == ("models[0].reference.format", "unknown format 'xlsx'; expected one of csv, "
                                                                "parquet, jsonl")


def test_window_needs_exactly_one_of_size_and_events() -> None:
    data = minimal()
    data["models"][0]["window"] = {"size": "1h", "events": 100}
    assert only_problem(data) == ("models[0].window", "give either size or events, not both")


def test_count_windows() -> None:
    data = minimal()
    data["models"][0]["window"] = {"events": 50}
    window = parse(data).models[0].window
    assert (window.size_s, window.events, window.min_events, window.idle_close_s) == (None, 50, 50, None)
    data["models"][0]["window"] = {"events": 50, "min_events": 60, "allowed_lateness": "5m", "idle_close": "10m"}
    assert problems(data) == {
        "models[0].window.allowed_lateness": "only applies to time windows (window.size)",
        "models[0].window.min_events": "60 is more than window.events (50): no window would ever be judged",
    }


def test_time_window_idle_close() -> None:
    data = minimal()
    data["models"][0]["window"] = {"size": "10m", "idle_close": "1h", "min_events": 5}
    window = parse(data).models[0].window
    assert (window.size_s, window.idle_close_s, window.min_events) == (600.0, 3600.0, 5)


def test_max_future_defaults_to_an_hour_and_is_a_duration_of_time_windows() -> None:
    data = minimal()
    assert parse(data).models[0].window.max_future_s == 3600.0
    data["models"][0]["window"] = {"size": "10m", "max_future": "5m"}
    assert parse(data).models[0].window.max_future_s == 300.0
    data["models"][0]["window"] = {"size": "10m", "max_future": "0s"}
    assert only_problem(data)[0] == "models[0].window.max_future"
    data["models"][0]["window"] = {"events": 50, "max_future": "5m"}
    assert only_problem(data) == ("models[0].window.max_future", "only applies to time windows (window.size)")


# --- drift and performance rules --------------------------------------------------------------

def test_unknown_statistic_lists_the_valid_ones() -> None:
    data = minimal()
    data["models"][0]["drift"] = {"statistics": ["psi", "kss", "psi"]}
    assert problems(data) == {
        "models[0].drift.statistics[1]": "unknown statistic 'kss' (did you mean 'ks'?); "
                                         "expected one of psi, ks, wasserstein, jensenshannon, chisquare",
        "models[0].drift.statistics[2]": "'psi' is listed twice",
    }


def test_drift_rules() -> None:
    data = minimal()
    data["models"][0]["drift"] = {"statistics": ["psi", "ks"], "rules": {"psi": 0.25, "ks": 0.01}}
    assert dict(parse(data).models[0].drift.rules) == {"psi": 0.25, "ks": 0.01}
    data["models"][0]["drift"] = {"statistics": ["psi", "ks"],
                                  "rules": {"wasserstein": 0.1, "ks": 1.5, "psi": -1, "pis": 1}}
    assert problems(data) == {
        "models[0].drift.rules.wasserstein": "a rule for 'wasserstein', which is not in drift.statistics (psi, ks)",
        "models[0].drift.rules.ks": "expected a p-value between 0 and 1, got 1.5",
        "models[0].drift.rules.psi": "expected a threshold of at least 0, got -1",
        "models[0].drift.rules.pis": "unknown statistic 'pis' (did you mean 'psi'?); "
                                     "expected one of psi, ks, wasserstein, jensenshannon, chisquare",
    }


def test_default_drift_rule_only_for_a_chosen_statistic() -> None:
    data = minimal()
    data["models"][0]["drift"] = {"statistics": ["ks"]}
    assert dict(parse(data).models[0].drift.rules) == {}


@pytest.mark.parametrize("task, metric, message", [
    ("regression", "accuracy", "'accuracy' is not available for regression; expected one of mae, rmse, mape, r2"),
    ("multiclass_classification", "roc_auc", "'roc_auc' is not available for multiclass_classification; "
                                             "expected one of accuracy, precision, recall, f1"),
    ("binary_classification", "rmse", "'rmse' is not available for binary_classification; expected one of "
                                      "accuracy, precision, recall, f1, roc_auc, log_loss, brier"),
    ("binary_classification", "acuracy", "unknown metric 'acuracy' (did you mean 'accuracy'?); expected one of "
                                         "accuracy, precision, recall, f1, roc_auc, log_loss, brier"),
])
def test_metrics_must_suit_the_task(task: str, metric: str, message: str) -> None:
    data = minimal()
    data["models"][0].update(task=task, performance={"metrics": ["f1" if task != "regression" else "mae", metric]})
    assert only_problem(data) == ("models[0].performance.metrics[1]", message)


def test_performance_rules() -> None:
    data = minimal()
    data["models"][0]["performance"] = {"rules": {"accuracy": {"below": 0.8}, "roc_auc": {"below": 0.6, "above": 0.99}}}
    rules = parse(data).models[0].performance.rules
    assert dict(rules) == {"accuracy": Bound(below=0.8), "roc_auc": Bound(0.6, 0.99)}
    data["models"][0]["performance"] = {"rules": {"precision": {"below": 0.5}, "f1": {}, "accuracy": {"over": 1},
                                                  "roc_auc": {"below": 0.9, "above": 0.8}}}
    assert problems(data) == {
        "models[0].performance.rules.precision": "a rule for 'precision', which is not in performance.metrics "
                                                 "(accuracy, f1, roc_auc)",
        "models[0].performance.rules.f1": "expected below, above or both, like {below: 0.8}",
        "models[0].performance.rules.accuracy.over": "unknown key 'over' (did you mean 'above'?); "
                                                     "valid keys: below, above",
        "models[0].performance.rules.roc_auc": "below (0.9) must be less than above (0.8), or the rule would "
                                               "always hold",
    }
    data["models"][0]["performance"] = {"rules": {"accuracy": 0.8}}
    assert only_problem(data) == ("models[0].performance.rules.accuracy",
                                  "expected a mapping like {below: 0.8} or {above: 0.3}, got 0.8")


def test_performance_label_ttl_and_positive_label() -> None:
    data = minimal()
    data["models"][0]["performance"] = {"label_ttl": "2d", "positive_label": "churned", "threshold": 0.7}
    perf = parse(data).models[0].performance
    assert (perf.label_ttl_s, perf.positive_label, perf.threshold) == (172800.0, "churned", 0.7)


# --- webhooks and alerts ----------------------------------------------------------------------

def test_webhook_defaults() -> None:
    hook = parse(full()).webhooks["retrain"]
    assert (hook.name, hook.url, hook.timeout_s, hook.max_attempts, hook.format) == (
        "retrain", "https://ci.example.com/hooks/retrain", 5.0, 12, "driftd")
    assert hook.secret == Secret(SECRET) and dict(hook.headers) == {}


def test_alerts_name_undefined_webhooks() -> None:
    data = full()
    data["models"][0]["alerts"] = {"webhooks": ["retrian"]}
    assert only_problem(data) == ("models[0].alerts.webhooks[0]", "no webhook named 'retrian' (did you mean "
                                                                  "'retrain'?); defined webhooks: retrain")
    data = minimal()
    data["models"][0]["alerts"] = {"webhooks": ["retrain"]}
    assert only_problem(data) == ("models[0].alerts.webhooks[0]", "no webhook named 'retrain'; no webhooks are "
                                                                  "defined (add them under the top-level webhooks key)")


@pytest.mark.parametrize("url", ["ftp://ci.example.com/x", "https://", "ci.example.com/hook", "http://:80/x",
                                 "https://host:notaport/"])
def test_bad_webhook_urls(url: str) -> None:
    data = full()
    data["webhooks"]["retrain"]["url"] = url
    assert only_problem(data) == ("webhooks.retrain.url", "expected an http(s) URL with a host, like "
                                                          f"https://ci.example.com/hooks/retrain, got {url!r}")


def test_webhook_values() -> None:
    data = full()
    data["webhooks"]["retrain"].update(timeout="5", max_attempts=0, format="jenkins",
                                       headers={"X-Token": "abc", "Idempotency-Key": "k", "Bad Header": "v"})
    data["webhooks"]["nourl"] = {}
    data["webhooks"]["empty"] = None
    assert problems(data) == {
        "webhooks.retrain.timeout": "expected a duration like 10m, got '5'",
        "webhooks.retrain.max_attempts": "expected a positive integer, got 0",
        "webhooks.retrain.format": "expected one of driftd, airflow, kubeflow, github, got 'jenkins'",
        "webhooks.retrain.headers.Idempotency-Key": "Idempotency-Key is set by driftd itself and cannot be overridden",
        "webhooks.retrain.headers.Bad Header": "expected an HTTP header name, got 'Bad Header'",
        "webhooks.nourl.url": "required key is missing",
        "webhooks.empty": "expected a mapping with at least a url",
    }


def test_webhook_headers_are_never_shown() -> None:
    data = full()
    data["webhooks"]["retrain"]["headers"] = {"Authorization": f"Bearer {SECRET}"}
    config = parse(data)
    assert config.webhooks["retrain"].headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(config) and SECRET not in str(config)


def test_webhook_retry_and_params_defaults() -> None:
    hook = parse(full()).webhooks["retrain"]
    assert (hook.retry_initial_s, hook.retry_max_s, dict(hook.params)) == (1.0, 300.0, {})
    data = full()
    data["webhooks"]["retrain"].update(retry_initial="200ms", retry_max="2s")
    data["webhooks"]["gh"] = {"url": "https://api.github.com/repos/acme/churn/dispatches", "format": "github"}
    data["webhooks"]["kf"] = {"url": "https://kfp.example.com/apis/v2beta1/runs", "format": "kubeflow",
                              "params": {"pipeline_id": "p1", "experiment_id": "${EXPERIMENT}"}}
    data["webhooks"]["af"] = {"url": "https://airflow.example.com/api/v1/dags/retrain/dagRuns", "format": "airflow"}
    hooks = parse(data, {"HOOK_SECRET": "x", "EXPERIMENT": SECRET}).webhooks
    assert (hooks["retrain"].retry_initial_s, hooks["retrain"].retry_max_s) == (0.2, 2.0)
    assert dict(hooks["gh"].params) == {"event_type": "driftd_alert"}
    assert dict(hooks["kf"].params) == {"pipeline_id": "p1", "experiment_id": SECRET, "parameter": "alert"}
    assert dict(hooks["af"].params) == {}
    assert SECRET not in repr(hooks["kf"])


def test_webhook_params_are_checked_per_format() -> None:
    data = full()
    data["webhooks"] = {
        "kf": {"url": "https://kfp.example.com/apis/v2beta1/runs", "format": "kubeflow",
               "params": {"pipeline": "p1", "parameter": "bad-name", "experiment_id": ""}},
        "kf2": {"url": "https://kfp.example.com/apis/v2beta1/runs", "format": "kubeflow"},
        "gh": {"url": "https://api.github.com/repos/acme/churn/dispatches", "format": "github",
               "params": {"event_type": "x" * 101}},
        "af": {"url": "https://airflow.example.com/api/v1/dags/retrain/dagRuns", "format": "airflow",
               "params": {"dag_id": "retrain"}},
        "plain": {"url": "https://ci.example.com/hook", "params": {"event_type": "x"}},
    }
    data["models"][0]["alerts"] = {"webhooks": ["kf"]}
    assert problems(data) == {
        "webhooks.kf.params.pipeline": "unknown key 'pipeline' (did you mean 'pipeline_id'?); valid keys: "
                                       "pipeline_id, pipeline_version_id, experiment_id, parameter",
        "webhooks.kf.params.pipeline_id": "required key is missing",
        "webhooks.kf.params.experiment_id": "expected a non-empty string, got ''",
        "webhooks.kf.params.parameter": "expected a pipeline parameter name (letters, digits, _), got 'bad-name'",
        "webhooks.kf2.params": "required by the kubeflow format: a mapping with pipeline_id",
        "webhooks.gh.params.event_type": "expected a GitHub event type of at most 100 characters, got 101 characters",
        "webhooks.af.params": "the airflow format takes no params; formats with params: kubeflow, github",
        "webhooks.plain.params": "the driftd format takes no params; formats with params: kubeflow, github",
    }


@pytest.mark.parametrize("fmt, url, expected", [
    ("airflow", "https://airflow.example.com/api/v1/dags", "Airflow's /api/v1/dags/<dag_id>/dagRuns"),
    ("kubeflow", "https://kfp.example.com/", "Kubeflow Pipelines' /apis/v2beta1/runs"),
    ("github", "https://api.github.com/repos/acme/churn", "GitHub's /repos/<owner>/<repo>/dispatches"),
])
def test_preset_urls_must_be_the_endpoint(fmt: str, url: str, expected: str) -> None:
    data = full()
    data["webhooks"]["retrain"].update(url=url, format=fmt, params={"pipeline_id": "p1"} if fmt == "kubeflow" else None)
    assert only_problem(data) == ("webhooks.retrain.url", f"the {fmt} format posts to {expected}; expected the full "
                                                          f"URL of that endpoint, got {url!r}")


def test_webhook_retry_delays() -> None:
    data = full()
    data["webhooks"]["retrain"].update(retry_initial="10s", retry_max="5s")
    assert only_problem(data) == ("webhooks.retrain.retry_max", "must be at least retry_initial (10s), got '5s'")
    data["webhooks"]["retrain"].update(retry_initial="0s", retry_max=5, retry_maximum="1m")
    assert problems(data) == {
        "webhooks.retrain.retry_maximum": "unknown key 'retry_maximum' (did you mean 'retry_max'?); valid keys: url, "
                                          "secret, timeout, max_attempts, format, headers, params, retry_initial, "
                                          "retry_max",
        "webhooks.retrain.retry_initial": "expected a duration greater than 0, got '0s'",
        "webhooks.retrain.retry_max": "expected a duration like 10m, got 5 (durations need a unit: 500ms, 30s, 10m, "
                                      "1h, 7d)",
    }


# --- kafka ------------------------------------------------------------------------------------

def test_kafka_required_keys_and_values() -> None:
    data = minimal()
    data["kafka"] = {"topics": {"labels": "bad topic!"}, "start_from": "beginning", "group": "x"}
    assert problems(data) == {
        "kafka.group": "unknown key 'group' (did you mean 'group_id'?); valid keys: " + ", ".join([
            "bootstrap_servers", "topics", "group_id", "dead_letter_topic", "start_from", "security_protocol",
            "ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password", "sasl_mechanism", "sasl_plain_username",
            "sasl_plain_password", "fields", "timestamp_unit", "session_timeout_ms", "max_poll_records", "client",
            "decode_workers"]),
        "kafka.bootstrap_servers": "required key is missing",
        "kafka.topics.predictions": "required key is missing",
        "kafka.topics.labels": "expected a Kafka topic name (letters, digits, . _ -), got 'bad topic!'",
        "kafka.start_from": "expected one of earliest, latest, got 'beginning'",
    }


def test_decode_workers_is_zero_or_one() -> None:
    data = full()
    data["kafka"]["decode_workers"] = 0
    assert parse(data).kafka.decode_workers == 0
    data["kafka"]["decode_workers"] = 2
    assert problems(data) == {
        "kafka.decode_workers": "expected 0 (decode in the loop's thread) or 1 (a decoding process), got 2"}


def test_kafka_topics_must_differ() -> None:
    data = full()
    data["kafka"]["topics"]["labels"] = "ml.predictions"
    assert only_problem(data) == ("kafka.topics.labels", "the same topic as topics.predictions; each kind needs "
                                                         "its own topic")


def test_kafka_fields_must_be_contract_fields_of_their_topic() -> None:
    data = full()
    data["kafka"]["fields"] = {"labels": {"prediction": "score", "label": "outcome"},
                               "predictions": {"features": "x", "prediction": "x"}, "events": {}}
    assert problems(data) == {
        "kafka.fields.events": "unknown key 'events'; valid keys: predictions, features, labels",
        "kafka.fields.labels.prediction": "unknown field 'prediction' (did you mean 'prediction_id'?); "
                                          "fields of the labels topic: model, prediction_id, timestamp, label",
        "kafka.fields.predictions.prediction": "'x' is also the source of features",
    }


def test_kafka_sasl() -> None:
    data = full()
    data["kafka"].update(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="driftd",
                         sasl_plain_password="${KAFKA_PASSWORD}", ssl_cafile="certs/ca.pem")
    kafka = parse(data, {"HOOK_SECRET": "x", "KAFKA_PASSWORD": SECRET}).kafka
    assert kafka.sasl_plain_password.reveal() == SECRET
    assert kafka.ssl_cafile == "/srv/driftd/certs/ca.pem"
    assert SECRET not in repr(kafka)
    data["kafka"].update(sasl_mechanism="PLAIN", sasl_plain_username=None, sasl_plain_password=None)
    assert problems(data) == {"kafka.sasl_plain_username": "required when sasl_mechanism is PLAIN",
                              "kafka.sasl_plain_password": "required when sasl_mechanism is PLAIN"}
    data["kafka"].update(sasl_mechanism=None)
    assert only_problem(data) == ("kafka.sasl_mechanism", "required when security_protocol is SASL_SSL; expected "
                                                          "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER")


def test_kafka_security_keys_need_the_matching_protocol() -> None:
    data = full()
    data["kafka"].update(ssl_cafile="ca.pem", sasl_mechanism="PLAIN", security_protocol="PLAINTEXT")
    assert problems(data) == {
        "kafka.ssl_cafile": "only used when security_protocol is SSL or SASL_SSL (it is PLAINTEXT)",
        "kafka.sasl_mechanism": "only used when security_protocol is SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT)",
    }
    data["kafka"].update(security_protocol="TLS", sasl_mechanism=None, ssl_cafile=None)
    assert only_problem(data) == ("kafka.security_protocol", "expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, "
                                                             "SASL_SSL, got 'TLS'")


# --- ${VAR} and secrets -----------------------------------------------------------------------

def test_env_expansion_with_defaults_and_escapes() -> None:
    data = full()
    data["kafka"]["bootstrap_servers"] = "${KAFKA_HOST}:${KAFKA_PORT:-9092}"
    data["kafka"]["group_id"] = "$${literal}"
    data["server"] = {"port": "${PORT:-9200}"}
    config = parse(data, {"HOOK_SECRET": "x", "KAFKA_HOST": "broker", "KAFKA_PORT": ""})
    assert config.kafka.bootstrap_servers == "broker:9092"
    assert config.kafka.group_id == "${literal}"
    assert config.server.port == 9200 and isinstance(config.server.port, int)


def test_unset_variable_names_its_key() -> None:
    assert only_problem(full(), env={}) == (
        "webhooks.retrain.secret", "environment variable HOOK_SECRET is not set")
    data = full()
    data["models"][0]["reference"] = {"path": "${DATA}/ref.csv"}
    data["kafka"]["topics"]["labels"] = "${LABELS"
    data["models"][0]["alerts"]["webhooks"] = ["retrain", "${HOOK}"]
    data["models"][0]["drift"] = {"statistics": "${STATS}"}
    assert problems(data, env={"HOOK_SECRET": "x"}) == {
        "models[0].reference.path": "environment variable DATA is not set",
        "kafka.topics.labels": "unterminated ${ (write $${ for a literal ${)",
        "models[0].alerts.webhooks[1]": "environment variable HOOK is not set",
        "models[0].drift.statistics": "environment variable STATS is not set",
    }


def test_secret_class() -> None:
    secret = Secret(SECRET)
    assert repr(secret) == str(secret) == f"{secret}" == "Secret('***')"
    assert secret.reveal() == SECRET
    assert secret == Secret(SECRET) and hash(secret) == hash(Secret(SECRET)) and secret != Secret("other")
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(secret)).reveal() == SECRET


def test_values_from_the_environment_never_appear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"HOOK_SECRET": SECRET, "HOOK_URL": f"ftp://{SECRET}.example.com/", "PORT": f"port-{SECRET}",
           "DB": f"postgres://user:{SECRET}@db/x", "SIZE": SECRET, "TASK": SECRET}
    data = full()
    data["webhooks"]["retrain"]["url"] = "${HOOK_URL}"
    data["server"] = {"port": "${PORT}"}
    data["storage"] = {"url": "${DB}"}
    data["models"][0].update(window={"size": "${SIZE}"}, task="${TASK}")
    data["models"][0]["drift"] = {"statistics": ["${TASK}"]}
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    text = str(info.value) + repr(info.value) + repr(info.value.problems)
    assert SECRET not in text
    found = dict(info.value.problems)
    assert found["webhooks.retrain.url"].endswith("got '***' (from ${HOOK_URL})")
    assert found["server.port"] == "expected a port number from 1 to 65535, got '***' (from ${PORT})"
    assert found["models[0].window.size"] == "expected a duration like 10m, got '***' (from ${SIZE})"
    assert len(found) == 6

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    assert check_main(str(path), env) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert f"{path}: server.port: expected a port number" in err


def test_valid_values_from_the_environment_are_masked_in_repr(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    env = {"HOOK_SECRET": SECRET, "HOOK_URL": f"https://{SECRET}.example.com/", "PORT": "9999",
           "DB": f"sqlite:///{SECRET}.db", "DATA": f"/data/{SECRET}", "SERVERS": f"{SECRET}:9092",
           "AUTH": f"Bearer {SECRET}"}
    data = full()
    data["webhooks"]["retrain"].update(url="${HOOK_URL}", headers={"Authorization": "${AUTH}"})
    data["server"] = {"port": "${PORT}"}
    data["storage"] = {"url": "${DB}"}
    data["kafka"]["bootstrap_servers"] = "${SERVERS}"
    data["models"][0]["reference"] = {"path": "${DATA}/ref.csv"}
    config = parse(data, env)
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert config.webhooks["retrain"].url == f"https://{SECRET}.example.com/"
    assert config.storage.url == f"sqlite:////srv/driftd/{SECRET}.db"
    assert str(config.models[0].reference.path) == f"/data/{SECRET}/ref.csv"
    assert config.server.port == 9999 and f"{config.server.port}" == "9999"
    assert config.kafka.bootstrap_servers == f"{SECRET}:9092"
    assert redact(config.kafka.bootstrap_servers) == "'***' (from ${SERVERS})"
    assert SECRET not in "".join(message for _, message in check_files(config))
    assert pickle.loads(pickle.dumps(config)) == config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    assert check_main(str(path), env) == 2  # the reference file is missing
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert err == f"{path}: models[0].reference.path: no such file: '***' (from ${{DATA}})\n"


# --- the objects ------------------------------------------------------------------------------

def test_config_is_frozen_and_hashable() -> None:
    config = parse(full())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.models = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.webhooks["x"] = None  # type: ignore[index]
    assert hash(config) == hash(parse(full()))
    assert config == parse(full())


def test_model_lookup() -> None:
    config = parse(minimal())
    assert config.model("churn") is config.models[0]
    with pytest.raises(LookupError) as info:
        config.model("chrun")
    assert type(info.value) is LookupError
    assert str(info.value) == "no model named 'chrun' in test.yaml; configured models: churn"


# --- driftd check -----------------------------------------------------------------------------

def test_check_files_reports_missing_reference(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(minimal()))
    config = load_config(tmp_path / "c.yaml")
    assert check_files(config) == [("models[0].reference.path", f"no such file: {tmp_path / 'ref.csv'}")]
    (tmp_path / "ref.csv").write_text("a\n1\n")
    assert check_files(config) == []


def test_check_files_reports_a_missing_sqlite_folder(tmp_path: Path) -> None:
    data = minimal()
    data["storage"] = {"url": "sqlite:///nope/driftd.db"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "ref.csv").write_text("a\n1\n")
    assert check_files(load_config(tmp_path / "c.yaml")) == [
        ("storage.url", f"the folder of the SQLite database does not exist: {tmp_path / 'nope'}")]


def test_check_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    data = minimal()
    data["models"].append({**copy.deepcopy(data["models"][0]), "name": "eta", "task": "regression"})
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "ref.csv").write_text("a\n1\n")
    assert check_main(str(path)) == 0
    assert capsys.readouterr() == (f"{path}: ok (2 models)\n", "")

    data["models"][0]["window"] = {"size": "10 minutes", "sise": "1h"}
    data["server"] = {"port": 0}
    path.write_text(yaml.safe_dump(data))
    assert check_main(str(path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert sorted(err.splitlines()) == sorted([
        f"{path}: server.port: expected a port number from 1 to 65535, got 0",
        f"{path}: models[0].window.sise: unknown key 'sise' (did you mean 'size'?); valid keys: size, events, "
        "allowed_lateness, min_events, idle_close, max_future",
        f"{path}: models[0].window.size: expected a duration like 10m, got '10 minutes'",
    ])


def test_check_main_in_a_subprocess_exits_2_and_imports_no_numpy(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("models:\n  - name: churn\n    window: {size: ten minutes}\n")
    code = ("import sys; from monitor.config import check_main; rc = check_main(sys.argv[1]); "
            "assert 'numpy' not in sys.modules and 'pandas' not in sys.modules and 'scipy' not in sys.modules, "
            "'heavy import'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"{path}: models[0].window.size: expected a duration like 10m, got 'ten minutes'" in result.stderr
    assert f"{path}: models[0].task: required key is missing" in result.stderr
    assert result.stdout == ""


def test_statistics_match_the_detectors() -> None:
    """The config keeps its own copy of the statistic names (to stay numpy-free); it must not drift apart."""
    import monitor.config
    from detectors import compare

    assert monitor.config.STATISTICS == tuple(compare.STATISTICS)
    assert monitor.config.PVALUE_STATISTICS == compare.PVALUE_STATISTICS


def test_empty_list_items_are_errors() -> None:
    data = minimal()
    data["models"].append(None)
    assert only_problem(data) == ("models[1]", "expected a mapping with name, task, reference, window, got nothing")
    data = minimal()
    data["models"][0]["features"] = [None, "age"]
    assert problems(data) == {"models[0].features[0]": "expected a mapping with name, type, got nothing",
                              "models[0].features[1]": "expected a mapping, got 'age'"}


def test_messages_about_environment_values_stay_masked() -> None:
    env = {"HOOK_SECRET": "x", "EVENTS": "50", "MIN": "60", "NAME": SECRET, "STAT": "psi"}
    data = minimal()
    data["models"][0].update(name="${NAME}", window={"events": "${EVENTS}", "min_events": "${MIN}"},
                             features=[{"name": "${NAME}", "type": "numeric"}],
                             drift={"statistics": ["${STAT}"], "rules": {"ks": 0.1}, "critical_features": ["x"]})
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    assert dict(info.value.problems) == {
        "models[0].window.min_events": "'***' is more than window.events ('***'): no window would ever be judged",
        "models[0].drift.rules.ks": "a rule for 'ks', which is not in drift.statistics ('***')",
        "models[0].drift.critical_features[0]": "'x' is not a feature of this model; features: '***'",
    }
    data["models"][0].update(window={"size": "1h"}, drift={})
    config = parse(data, env)
    with pytest.raises(LookupError) as lookup:
        config.model("other")
    assert SECRET not in str(lookup.value) + repr(config)
    assert config.model(SECRET) is config.models[0]


def test_yaml_aliases_are_expanded_once_and_self_reference_is_an_error(tmp_path: Path) -> None:
    bomb = "".join(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
                   for prev, name in zip("abcdefgh", "bcdefghi"))
    path = tmp_path / "bomb.yaml"
    path.write_text('a: &a ["${X:-lol}", "lol"]\n' + bomb)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})  # 9**8 strings if every alias were copied; returns at once
    assert ("models", "required key is missing") in info.value.problems
    path.write_text("models: &m [*m]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [("models[0]", "a YAML alias that contains itself")]


def test_checkpoint_interval() -> None:
    assert parse(minimal()).storage.checkpoint_interval_s == 10.0
    data = minimal()
    data["storage"] = {"checkpoint_interval": "500ms"}
    assert parse(data).storage.checkpoint_interval_s == 0.5
    data["storage"] = {"checkpoint_interval": "often"}
    key, message = only_problem(data)
    assert key == "storage.checkpoint_interval" and "often" in message


def test_kafka_timestamp_unit_per_topic() -> None:
    data = full()
    kafka = parse(data).kafka
    assert kafka is not None and dict(kafka.timestamp_unit) == {k: "seconds" for k in ("predictions", "features",
                                                                                       "labels")}
    data["kafka"]["timestamp_unit"] = {"predictions": "milliseconds", "labels": "nanoseconds"}
    kafka = parse(data).kafka
    assert kafka is not None and dict(kafka.timestamp_unit) == {"predictions": "milliseconds", "features": "seconds",
                                                                "labels": "nanoseconds"}
    data["kafka"]["timestamp_unit"] = {"predictions": "millis", "events": "seconds"}
    assert problems(data) == {
        "kafka.timestamp_unit.events": "unknown key 'events'; valid keys: predictions, features, labels",
        "kafka.timestamp_unit.predictions": "unknown timestamp unit 'millis' (did you mean 'milliseconds'?); "
                                            "expected one of seconds, milliseconds, microseconds, nanoseconds",
    }
