"""monitor.alerts.webhooks.formats: each preset's request, as a real receiver sees it; the example configs."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from monitor.alerts.webhooks import Outcome, airflow_run_id, attempt, new_session, render, verify
from monitor.alerts.webhooks.formats import USER_AGENT
from monitor.config import load_config
from tests.fixtures.receiver import Received, Receiver
from tests.monitor.alerts.webhooks.test_webhooks import ALERT, ROOT, SECRET, TOKEN, webhook

EXAMPLES = ROOT / "config" / "webhooks"
EXAMPLE_ENV = {"DRIFTD_WEBHOOK_SECRET": SECRET, "AIRFLOW_API_TOKEN": TOKEN, "KFP_TOKEN": TOKEN, "GITHUB_TOKEN": TOKEN}


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def deliver(receiver: Receiver, path: str, alert: dict[str, Any] = ALERT, **settings: Any) -> tuple[Any, Received]:
    """Render the alert for a webhook at ``path`` of the receiver, send it once, return the attempt and the request."""
    hook = webhook(receiver.url + path, **settings)
    with new_session() as session:
        result = attempt(session, hook, render(hook, alert), timeout_s=5)
    [seen] = receiver.requests
    return result, seen


def assert_common_headers(seen: Received) -> None:
    """What every preset sends: JSON, Idempotency-Key, our User-Agent, the configured auth, a valid signature."""
    assert seen.method == "POST"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Idempotency-Key"] == ALERT["id"]
    assert seen.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("driftd/")
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    verify(SECRET, seen.body, seen.headers["X-Driftd-Signature"])  # over the exact bytes received


def test_driftd_preset_posts_the_alert_as_it_is(receiver: Receiver) -> None:
    result, seen = deliver(receiver, "/hooks/retrain")
    assert result.outcome is Outcome.DELIVERED
    assert seen.path == "/hooks/retrain"
    assert_common_headers(seen)
    assert seen.json == ALERT


def test_airflow_preset_triggers_a_dag_run(receiver: Receiver) -> None:
    result, seen = deliver(receiver, "/api/v1/dags/retrain_churn/dagRuns", format="airflow")
    assert result.outcome is Outcome.DELIVERED
    assert seen.path == "/api/v1/dags/retrain_churn/dagRuns"
    assert_common_headers(seen)
    assert seen.json == {"dag_run_id": "driftd__drift:churn:1763798400:1763802000", "conf": ALERT}


def test_airflow_409_means_the_run_exists_and_counts_as_delivered(receiver: Receiver) -> None:
    result, _ = deliver(receiver, "/api/v1/dags/retrain_churn/dagRuns?status=409", format="airflow")
    assert (result.outcome, result.status, result.error) == (Outcome.DELIVERED, 409, None)
    receiver.requests.clear()
    result, _ = deliver(receiver, "/hooks/retrain?status=409")  # any other format: a conflict is a failure
    assert (result.outcome, result.status) == (Outcome.FAILED, 409)


@pytest.mark.parametrize("alert_id", ["drift:churn:0:3600", "performance:fraud/eu:0:3600", "drift:a..b:1:2",
                                      "drift:a~2Fb:1:2", "drift:ünïcode:1:2", "drift:" + "m" * 300 + ":1:2",
                                      "drift:" + "m" * 300 + ":1:3"])
def test_airflow_run_ids_are_valid_and_one_to_one(alert_id: str) -> None:
    import re
    run_id = airflow_run_id(alert_id)
    assert re.fullmatch(r"[A-Za-z0-9_.~:+-]+", run_id) and len(run_id) <= 250 and ".." not in run_id
    assert airflow_run_id(alert_id) == run_id
    others = {airflow_run_id(other) for other in ("drift:churn:0:3600", "performance:fraud/eu:0:3600",
                                                  "drift:a..b:1:2", "drift:a~2Fb:1:2", "drift:ünïcode:1:2",
                                                  "drift:" + "m" * 300 + ":1:2", "drift:" + "m" * 300 + ":1:3")}
    assert len(others) == 7


def test_kubeflow_preset_creates_a_run(receiver: Receiver) -> None:
    params = {"pipeline_id": "p-123", "pipeline_version_id": "v-456", "experiment_id": "e-789"}
    result, seen = deliver(receiver, "/pipeline/apis/v2beta1/runs", format="kubeflow", params=params)
    assert result.outcome is Outcome.DELIVERED
    assert seen.path == "/pipeline/apis/v2beta1/runs"
    assert_common_headers(seen)
    assert seen.json == {
        "display_name": "driftd drift:churn:1763798400:1763802000",
        "description": "driftd drift alert for model churn",
        "experiment_id": "e-789",
        "pipeline_version_reference": {"pipeline_id": "p-123", "pipeline_version_id": "v-456"},
        "runtime_config": {"parameters": {"alert": ALERT}},
    }


def test_kubeflow_optional_params_are_left_out(receiver: Receiver) -> None:
    params = {"pipeline_id": "p-123", "parameter": "drift_alert"}
    _, seen = deliver(receiver, "/apis/v2beta1/runs", format="kubeflow", params=params)
    body = seen.json
    assert "experiment_id" not in body
    assert body["pipeline_version_reference"] == {"pipeline_id": "p-123"}  # the pipeline's latest version
    assert body["runtime_config"] == {"parameters": {"drift_alert": ALERT}}


def test_github_preset_fires_a_repository_dispatch(receiver: Receiver) -> None:
    result, seen = deliver(receiver, "/repos/acme/churn-model/dispatches?status=204", format="github",
                           params={"event_type": "retrain_churn"})
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 204)
    assert seen.path == "/repos/acme/churn-model/dispatches?status=204"
    assert_common_headers(seen)
    assert seen.headers["Accept"] == "application/vnd.github+json"
    assert seen.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert seen.json == {"event_type": "retrain_churn", "client_payload": ALERT}
    assert len(seen.json["client_payload"]) <= 10  # GitHub's limit on top-level client_payload keys


def test_github_event_type_defaults_and_configured_headers_win(receiver: Receiver) -> None:
    _, seen = deliver(receiver, "/repos/acme/churn-model/dispatches", format="github",
                      headers={"Authorization": "Bearer ${HOOK_TOKEN}", "accept": "application/json"})
    assert seen.json["event_type"] == "driftd_alert"
    assert [value for name, value in seen.raw_headers if name.lower() == "accept"] == ["application/json"]


def test_without_a_secret_there_is_no_signature(receiver: Receiver) -> None:
    hook = dataclasses.replace(webhook(receiver.url + "/hooks/retrain"), secret=None)
    request = render(hook, ALERT)
    assert "X-Driftd-Signature" not in request.headers
    assert set(request.headers) == {"Content-Type", "User-Agent", "Idempotency-Key", "Authorization"}


def test_the_signature_covers_the_exact_body_and_its_time() -> None:
    hook = webhook("https://ml.example.com/hooks/retrain")
    request = render(hook, ALERT, now=1_763_800_000)
    assert request.headers["X-Driftd-Signature"].startswith("t=1763800000,v1=")
    verify(SECRET, request.body, request.headers["X-Driftd-Signature"], now=1_763_800_010)
    assert render(hook, ALERT, now=1_763_800_000) == request  # rendering is deterministic


def test_non_finite_numbers_become_null(receiver: Receiver) -> None:
    alert = {**ALERT, "reasons": [{"feature": "age", "statistic": "ks", "value": math.nan, "threshold": math.inf}]}
    _, seen = deliver(receiver, "/hooks/retrain", alert=alert)
    assert seen.json["reasons"] == [{"feature": "age", "statistic": "ks", "value": None, "threshold": None}]


# --- the example configurations --------------------------------------------------------------

@pytest.mark.parametrize("name", ["driftd", "airflow", "kubeflow", "github"])
def test_example_config_passes_driftd_check(name: str) -> None:
    path = EXAMPLES / f"{name}.yaml"
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "-c", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, env={**os.environ, **EXAMPLE_ENV})
    assert done.returncode == 0, done.stderr
    assert "ok (1 model)" in done.stdout and TOKEN not in done.stdout + done.stderr
    bare = {key: value for key, value in os.environ.items() if key not in EXAMPLE_ENV}
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "-c", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, env=bare)
    assert done.returncode == 2 and "is not set" in done.stderr


@pytest.mark.parametrize("name, path, status", [("driftd", "/hooks/retrain", 200),
                                                ("airflow", "/api/v1/dags/retrain_churn/dagRuns", 200),
                                                ("kubeflow", "/pipeline/apis/v2beta1/runs", 200),
                                                ("github", "/repos/acme/churn-model/dispatches", 204)])
def test_example_configs_deliver(receiver: Receiver, name: str, path: str, status: int) -> None:
    config = load_config(EXAMPLES / f"{name}.yaml", EXAMPLE_ENV)
    [hook] = config.webhooks.values()
    hook = dataclasses.replace(hook, url=receiver.url + f"{path}?status={status}")
    with new_session() as session:
        result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status) == (Outcome.DELIVERED, status)
    [seen] = receiver.requests
    assert seen.headers["Idempotency-Key"] == ALERT["id"]
    if name == "driftd":
        verify(SECRET, seen.body, seen.headers["X-Driftd-Signature"], now=time.time())
    else:
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    if name == "kubeflow":
        assert seen.json["pipeline_version_reference"]["pipeline_id"] == "6f1f4d2e-8a51-4c1b-9d0e-3b7f2a9c1e55"
    if name == "github":
        assert seen.json["event_type"] == "retrain_churn"
