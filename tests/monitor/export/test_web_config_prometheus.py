"""A real Prometheus (the Debian package's binary) scrapes driftd's /metrics over TLS with basic auth, and with a
client certificate, configured as docs/metrics.md "TLS and basic auth" shows; the jobs with a wrong password, no
credentials or no client certificate see the target down, with the 401 or the TLS error in /api/v1/targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import bcrypt
import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.config.web import read_web_config
from monitor.export.http import HttpServer
from monitor.export.metrics import Metrics
from tests.daemon.harness import free_port, wait_for
from tests.dashboards.servers import PrometheusServer
from tests.fixtures.certs import Certs, make_certs

PASSWORD = "scrape-me-please"


def start_server(folder: Path, web: dict[str, Any]) -> HttpServer:
    """An HttpServer on a free port of 127.0.0.1 with the web configuration ``web``, exposing driftd's metrics."""
    folder.mkdir()
    (folder / "web.yml").write_text(yaml.safe_dump(web))
    config, problems = read_web_config(folder / "web.yml")
    assert config is not None, problems
    registry = CollectorRegistry()
    Metrics(registry).consumed("ml.predictions", 42)
    server = HttpServer("127.0.0.1", 0, registry, healthy=lambda: True, ready=lambda: True, web=config)
    server.start()
    return server


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[PrometheusServer, Certs]]:
    """Two driftd servers (TLS + basic auth; TLS with client certificates) and a Prometheus with five jobs on them."""
    certs = make_certs(tmp_path / "certs")
    tls = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    guarded = start_server(tmp_path / "guarded", {"tls_server_config": tls, "basic_auth_users": {"prometheus": hashed}})
    mtls = start_server(tmp_path / "mtls", {"tls_server_config": {
        **tls, "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": str(certs.ca)}})

    def job(name: str, server: HttpServer, **settings: Any) -> dict[str, Any]:
        return {"job_name": name, "scheme": "https", "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}],
                **settings}

    ca = {"ca_file": str(certs.ca)}
    client = {**ca, "cert_file": str(certs.client_cert), "key_file": str(certs.client_key)}
    prometheus = PrometheusServer(tmp_path, free_port(), "", [], scrape_configs=[
        job("driftd", guarded, tls_config=ca, basic_auth={"username": "prometheus", "password": PASSWORD}),
        job("wrong-password", guarded, tls_config=ca, basic_auth={"username": "prometheus", "password": "guess"}),
        job("no-credentials", guarded, tls_config=ca),
        job("client-cert", mtls, tls_config=client),
        job("no-client-cert", mtls, tls_config=ca),
    ])
    try:
        prometheus.start()
        yield prometheus, certs
    finally:
        prometheus.stop()
        guarded.stop()
        mtls.stop()


def targets(prometheus: PrometheusServer) -> dict[str, dict[str, Any]]:
    """Job -> its one active target, once every target has been scraped at least once (else empty)."""
    found = {t["labels"]["job"]: t for t in prometheus.api("targets", state="active")["activeTargets"]}
    return found if len(found) == 5 and all(t["health"] != "unknown" for t in found.values()) else {}


def test_prometheus_scrapes_over_tls_with_basic_auth_and_client_certificates(scraped: Any) -> None:
    prometheus, _ = scraped
    for job in ("driftd", "client-cert"):
        wait_for(lambda: prometheus.query(f'up{{job="{job}"}} == 1'), 60, f"up == 1 for job {job}\n{prometheus.tail()}")
        series = wait_for(lambda: prometheus.query(f'driftd_events_consumed_total{{job="{job}"}}'), 30,
                          f"driftd_events_consumed_total scraped by job {job}")
        assert [s["value"][1] for s in series] == ["42"]

    def settled() -> dict[str, dict[str, Any]]:
        found = targets(prometheus)
        return found if found and all(found[job]["health"] == "down" and found[job]["lastError"]
                                      for job in ("wrong-password", "no-credentials", "no-client-cert")) else {}

    found = wait_for(settled, 60, "the jobs without the right credentials down with an error")
    assert {job: t["health"] for job, t in found.items()} == {
        "driftd": "up", "client-cert": "up", "wrong-password": "down", "no-credentials": "down",
        "no-client-cert": "down"}
    for job in ("wrong-password", "no-credentials"):
        assert "401" in found[job]["lastError"], found[job]["lastError"]
    assert "401" not in found["no-client-cert"]["lastError"] and "tls" in found["no-client-cert"]["lastError"].lower()
    for job in ("wrong-password", "no-credentials", "no-client-cert"):
        assert prometheus.query(f'up{{job="{job}"}} == 0'), job
        assert not prometheus.query(f'driftd_events_consumed_total{{job="{job}"}}'), job
