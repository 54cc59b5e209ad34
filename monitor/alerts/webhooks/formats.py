"""Payload presets: an alert (docs/webhooks.md) -> the HTTP request a webhook's ``format`` calls for.

``driftd``   the alert as it is.
``airflow``  Airflow's stable REST API, ``POST /api/v1/dags/{dag_id}/dagRuns``:
             ``{"dag_run_id": <from the alert id>, "conf": <alert>}``. The run id is derived from the
             alert id, so a second delivery of one alert is answered 409 (treated as delivered).
``kubeflow`` Kubeflow Pipelines v2beta1, ``POST /apis/v2beta1/runs``: a run of
             ``params.pipeline_id`` (``params.pipeline_version_id``, else its latest version), in
             ``params.experiment_id`` (else the default experiment), with the alert as the pipeline
             parameter ``params.parameter`` (default ``alert``).
``github``   GitHub's ``POST /repos/{owner}/{repo}/dispatches``:
             ``{"event_type": params.event_type, "client_payload": <alert>}``; answers 204.

Every request carries ``Content-Type: application/json``, ``Idempotency-Key: <alert id>``,
``User-Agent: driftd/<version>``, the webhook's configured ``headers`` and, with a ``secret``,
``X-Driftd-Signature`` over the exact body bytes sent.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from monitor.alerts.webhooks.signing import HEADER, sign
from monitor.config import FrozenMap, WebhookConfig



def _version() -> str:
    try:
        return metadata.version("driftd")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


USER_AGENT = f"driftd/{_version()}"
JSON_CONTENT_TYPE = "application/json"
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
"""The headers GitHub's REST API asks for; configured ``headers`` may override them."""
AIRFLOW_RUN_ID_LENGTH = 250
"""Airflow's limit on a run id (its ``ID_LEN``)."""


@dataclass(frozen=True)
class Request:
    """One HTTP request, ready to send; ``repr`` names its headers but never shows their values."""

    method: str
    url: str
    body: bytes
    headers: Mapping[str, str]

    def __repr__(self) -> str:
        return f"Request(method={self.method!r}, body={len(self.body)} bytes, headers={list(self.headers)})"


def render(webhook: WebhookConfig, alert: Mapping[str, Any], now: float | None = None) -> Request:
    """Build the request that delivers ``alert`` to ``webhook``; ``now`` (Unix seconds) stamps the signature."""
    payload, preset_headers = _PRESETS[webhook.format](alert, webhook.params)
    body = json.dumps(_finite(payload), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    headers = {"User-Agent": USER_AGENT, **preset_headers}
    configured = {name.lower() for name in webhook.headers}
    headers = {name: value for name, value in headers.items() if name.lower() not in configured}
    headers.update(webhook.headers)  # the config rejects the names set below, so they cannot be overridden
    headers.update({"Content-Type": JSON_CONTENT_TYPE, "Idempotency-Key": str(alert["id"])})
    if webhook.secret is not None:
        headers[HEADER] = sign(webhook.secret.reveal(), body, int(time.time() if now is None else now))
    return Request("POST", webhook.url, body, FrozenMap(headers))


def airflow_run_id(alert_id: str) -> str:
    """Return an Airflow run id for an alert id: one id maps to one run id, and different ids to different ones.

    Airflow accepts run ids matching ``^[A-Za-z0-9_.~:+-]+$`` of at most 250 characters. Other
    characters (and ``~`` itself, the escape character, and the second ``.`` of ``..``) become
    ``~XX`` per UTF-8 byte; an id still too long keeps its start and ends in a hash of the whole.

    >>> airflow_run_id("drift:churn:1763798400:1763802000")
    'driftd__drift:churn:1763798400:1763802000'
    >>> airflow_run_id("performance:fraud/eu:0:3600")
    'driftd__performance:fraud~2Feu:0:3600'
    """
    out: list[str] = []
    for index, char in enumerate(alert_id):
        if _RUN_ID_SAFE.fullmatch(char) and not (char == "." and index and alert_id[index - 1] == "."):
            out.append(char)
        else:
            out.extend(f"~{byte:02X}" for byte in char.encode("utf-8"))
    run_id = "driftd__" + "".join(out)
    if len(run_id) > AIRFLOW_RUN_ID_LENGTH:
        digest = hashlib.sha256(alert_id.encode("utf-8")).hexdigest()[:16]
        run_id = run_id[:AIRFLOW_RUN_ID_LENGTH - 17] + "+" + digest
    return run_id


# -- the presets: (alert, params) -> (payload, extra headers) --

_Preset = Callable[[Mapping[str, Any], Mapping[str, str]], tuple[object, dict[str, str]]]
_RUN_ID_SAFE = re.compile(r"[A-Za-z0-9_.:+-]")


def _driftd(alert: Mapping[str, Any], params: Mapping[str, str]) -> tuple[object, dict[str, str]]:
    return dict(alert), {}


def _airflow(alert: Mapping[str, Any], params: Mapping[str, str]) -> tuple[object, dict[str, str]]:
    return {"dag_run_id": airflow_run_id(str(alert["id"])), "conf": dict(alert)}, {}


def _kubeflow(alert: Mapping[str, Any], params: Mapping[str, str]) -> tuple[object, dict[str, str]]:
    reference = {"pipeline_id": params["pipeline_id"]}
    if "pipeline_version_id" in params:
        reference["pipeline_version_id"] = params["pipeline_version_id"]
    run: dict[str, object] = {
        "display_name": f"driftd {alert['id']}",
        "description": f"driftd {alert.get('kind', 'alert')} alert for model {alert.get('model', '?')}",
        "pipeline_version_reference": reference,
        "runtime_config": {"parameters": {params.get("parameter", "alert"): dict(alert)}},
    }
    if "experiment_id" in params:
        run["experiment_id"] = params["experiment_id"]
    return run, {}


def _github(alert: Mapping[str, Any], params: Mapping[str, str]) -> tuple[object, dict[str, str]]:
    return {"event_type": params.get("event_type", "driftd_alert"), "client_payload": dict(alert)}, dict(GITHUB_HEADERS)


_PRESETS: dict[str, _Preset] = {"driftd": _driftd, "airflow": _airflow, "kubeflow": _kubeflow, "github": _github}


def _finite(value: object) -> object:
    """Replace NaN and infinities (which JSON cannot carry) with null, all the way down."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value

