"""The HTTP endpoint with a web configuration (``server.web_config``), against real sockets on 127.0.0.1:
TLS with and without client certificates, basic auth against bcrypt hashes, response headers, and the
errors a bad certificate gives when the server starts."""

from __future__ import annotations

import base64
import gzip
import http.client
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import bcrypt
import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.config import Secret, TlsServerConfig, WebConfig
from monitor.config.web import read_web_config
from monitor.errors import DriftdError
from monitor.export import http as http_module
from monitor.export.http import BasicAuth, HttpServer
from monitor.export.metrics import Metrics
from tests.fixtures.certs import Certs, make_certs
from tests.fixtures.http import http_request
from tests.fixtures.kafka import free_port
from tests.fixtures.paths import ROOT

PASSWORD = "correct horse battery staple"


def bcrypt_hash(password: str, prefix: str = "$2b$") -> str:
    """A cheap (cost 4) bcrypt hash; ``$2y$`` is what htpasswd writes, the same algorithm."""
    return prefix + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()[4:]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def web_config(folder: Path, data: dict[str, Any]) -> WebConfig:
    """Write ``data`` as a web configuration file in ``folder`` and read it the way the config loader does."""
    path = folder / "web.yml"
    path.write_text(yaml.safe_dump(data))
    config, problems = read_web_config(path)
    assert config is not None, problems
    return config


def tls_section(certs: Certs, **extra: str) -> dict[str, str]:
    return {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key), **extra}


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start an HttpServer with a web configuration; every one started is stopped afterwards."""
    started: list[HttpServer] = []

    def start(web: WebConfig | None, **kwargs: Any) -> HttpServer:
        registry = CollectorRegistry()
        Metrics(registry).consumed("ml.predictions", 3)
        server = HttpServer("127.0.0.1", 0, registry, healthy=lambda: True, ready=lambda: True, web=web, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def client_context(certs: Certs, cert: Path | None = None, key: Path | None = None,
                   version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert is not None:
        context.load_cert_chain(cert, key)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    return context


def request(server: HttpServer, path: str = "/metrics", method: str = "GET", headers: dict[str, str] | None = None,
            context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    return http_request(server.port, path, method, headers, context)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- TLS -------------------------------------------------------------------------------------------

def test_tls_serves_all_three_endpoints_with_gzip_and_openmetrics(serve: Any, certs: Certs, tmp_path: Path) -> None:
    server = serve(web_config(tmp_path, {"tls_server_config": tls_section(certs)}))
    context = client_context(certs)
    status, headers, body = request(server, context=context)
    assert status == 200 and b'driftd_events_consumed_total{topic="ml.predictions"} 3.0' in body
    status, headers, body = request(server, headers={"Accept-Encoding": "gzip",
                                                     "Accept": "application/openmetrics-text; version=1.0.0"},
                                    context=context)
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert gzip.decompress(body).endswith(b"# EOF\n")
    assert request(server, "/healthz", context=context)[::2] == (200, b"ok")
    assert request(server, "/readyz", context=context)[::2] == (200, b"ready")
    assert request(server, "/nowhere", context=context)[0] == 404


def test_plain_http_to_the_tls_port_is_refused_and_the_server_keeps_serving(serve: Any, certs: Certs,
                                                                           tmp_path: Path) -> None:
    server = serve(web_config(tmp_path, {"tls_server_config": tls_section(certs)}))
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        request(server)
    with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust driftd's CA
        request(server, context=ssl.create_default_context())
    assert request(server, context=client_context(certs))[0] == 200


def test_min_version_tls13_refuses_a_tls12_client(serve: Any, certs: Certs, tmp_path: Path) -> None:
    server = serve(web_config(tmp_path, {"tls_server_config": tls_section(certs, min_version="TLS13")}))
    with pytest.raises(ssl.SSLError):
        request(server, context=client_context(certs, version=ssl.TLSVersion.TLSv1_2))
    assert request(server, context=client_context(certs, version=ssl.TLSVersion.TLSv1_3))[0] == 200


def test_a_client_that_never_handshakes_blocks_no_one_and_is_dropped(serve: Any, certs: Certs,
                                                                    tmp_path: Path) -> None:
    server = serve(web_config(tmp_path, {"tls_server_config": tls_section(certs)}), handshake_timeout_s=2.0)
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
    try:
        started = time.monotonic()
        assert request(server, context=client_context(certs))[0] == 200
        assert time.monotonic() - started < 2.0  # answered while the silent ones were still waiting
        for sock in silent:  # each is closed by the server once its handshake deadline passed
            assert sock.recv(1) == b""
    finally:
        for sock in silent:
            sock.close()


def test_client_certificates_are_required_and_verified(serve: Any, certs: Certs, tmp_path: Path) -> None:
    web = web_config(tmp_path, {"tls_server_config": tls_section(
        certs, client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(certs.ca))})
    server = serve(web)
    assert request(server, context=client_context(certs, certs.client_cert, certs.client_key))[0] == 200
    # TLS 1.3 reports a refused client certificate after the client's side of the handshake: on the first read
    for context in (client_context(certs), client_context(certs, certs.stranger_cert, certs.stranger_key)):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            request(server, context=context)
    assert request(server, "/healthz", context=client_context(certs, certs.client_cert, certs.client_key))[0] == 200


def test_verify_client_cert_if_given_lets_a_client_without_one_in(serve: Any, certs: Certs, tmp_path: Path) -> None:
    server = serve(web_config(tmp_path, {"tls_server_config": tls_section(
        certs, client_auth_type="VerifyClientCertIfGiven", client_ca_file=str(certs.ca))}))
    assert request(server, context=client_context(certs))[0] == 200
    assert request(server, context=client_context(certs, certs.client_cert, certs.client_key))[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionError)):
        request(server, context=client_context(certs, certs.stranger_cert, certs.stranger_key))


# --- basic auth ------------------------------------------------------------------------------------

@pytest.fixture
def guarded(serve: Any, certs: Certs, tmp_path: Path) -> tuple[HttpServer, ssl.SSLContext]:
    """TLS and two users: prometheus (a $2y$ hash, as htpasswd writes) and grafana."""
    web = web_config(tmp_path, {
        "tls_server_config": tls_section(certs),
        "basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD, "$2y$"), "grafana": bcrypt_hash("other")},
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
    })
    return serve(web), client_context(certs)


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
def test_no_credentials_answer_401_with_a_challenge(guarded: Any, path: str) -> None:
    server, context = guarded
    status, headers, body = request(server, path, context=context)
    assert (status, headers["WWW-Authenticate"], body) == (401, 'Basic realm="driftd"', b"unauthorized\n")
    assert b"driftd_" not in body


@pytest.mark.parametrize("headers", [
    basic("prometheus", "wrong"), basic("prometheus", ""), basic("nobody", PASSWORD), basic("grafana", PASSWORD),
    basic("prometheus", PASSWORD + "x"), basic("prometheus", "x" * 100),  # longer than bcrypt's 72 bytes
    {"Authorization": "Bearer " + PASSWORD}, {"Authorization": "Basic not-base64!"},
    {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {"Authorization": "Basic"},
], ids=["wrong", "empty", "unknown-user", "other-users-password", "longer", "over-72-bytes", "bearer",
        "bad-base64", "no-colon", "no-token"])
def test_wrong_credentials_answer_401(guarded: Any, headers: dict[str, str]) -> None:
    server, context = guarded
    status, answer, body = request(server, headers=headers, context=context)
    assert (status, answer["WWW-Authenticate"]) == (401, 'Basic realm="driftd"')


def test_the_right_password_is_served_on_every_endpoint(guarded: Any) -> None:
    server, context = guarded
    status, headers, body = request(server, headers=basic("prometheus", PASSWORD), context=context)
    assert status == 200 and b"driftd_events_consumed_total" in body and "WWW-Authenticate" not in headers
    assert request(server, headers=basic("grafana", "other"), context=context)[0] == 200
    assert request(server, "/healthz", headers=basic("prometheus", PASSWORD), context=context)[::2] == (200, b"ok")
    status, headers, body = request(server, "/readyz", "HEAD", headers=basic("prometheus", PASSWORD), context=context)
    assert (status, body) == (200, b"")


def test_unauthenticated_requests_learn_nothing_about_paths_and_methods(guarded: Any) -> None:
    server, context = guarded
    assert request(server, "/nowhere", context=context)[0] == 401
    assert request(server, "/metrics", "POST", context=context)[0] == 401
    assert request(server, "/readyz", "HEAD", context=context)[::2] == (401, b"")
    status, headers, _ = request(server, "/metrics", "POST", headers=basic("prometheus", PASSWORD), context=context)
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_configured_headers_come_with_every_answer(guarded: Any) -> None:
    server, context = guarded
    assert request(server, context=context)[1]["X-Content-Type-Options"] == "nosniff"
    assert request(server, headers=basic("prometheus", PASSWORD), context=context)[1]["X-Content-Type-Options"] == "nosniff"


def test_basic_auth_without_tls(serve: Any, tmp_path: Path) -> None:
    server = serve(web_config(tmp_path, {"basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD)}}))
    assert request(server)[0] == 401
    assert request(server, headers=basic("prometheus", PASSWORD))[0] == 200


def test_successes_are_remembered_in_a_bounded_cache_failures_never(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(http_module.bcrypt, "checkpw", counting)
    monkeypatch.setattr(BasicAuth, "CACHE_SIZE", 3)
    users = {f"user{i}": f"pw{i}" for i in range(5)}
    auth = BasicAuth({name: Secret(bcrypt_hash(password)) for name, password in users.items()})

    def header(user: str, password: str) -> str:
        return basic(user, password)["Authorization"]

    assert auth.check(header("user0", "pw0")) and auth.check(header("user0", "pw0"))
    assert calls == [b"pw0"]                                   # the second time from the cache
    assert not auth.check(header("user0", "bad")) and not auth.check(header("user0", "bad"))
    assert calls == [b"pw0", b"bad", b"bad"]                   # a failure is checked every time
    assert not auth.check(header("nobody", "pw0"))             # an unknown user costs a bcrypt too
    assert len(calls) == 4
    for i in range(1, 5):
        assert auth.check(header(f"user{i}", f"pw{i}"))
    assert len(auth._verified) == 3                            # bounded: the least recently verified go first
    calls.clear()
    assert auth.check(header("user4", "pw4")) and calls == []
    assert auth.check(header("user0", "pw0")) and calls == [b"pw0"]
    assert not any(b"pw" in key for key in auth._verified)     # the cache holds keyed digests, not passwords


def test_concurrent_scrapes_with_the_right_password(guarded: Any) -> None:
    server, context = guarded
    results: list[int] = []

    def scrape() -> None:
        results.append(request(server, headers=basic("prometheus", PASSWORD), context=context)[0])

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 8


# --- what a bad certificate does at start ------------------------------------------------------------

def test_a_key_that_does_not_match_the_certificate_fails_start_naming_both(serve: Any, certs: Certs,
                                                                          tmp_path: Path) -> None:
    web = web_config(tmp_path, {"tls_server_config": {"cert_file": str(certs.server_cert),
                                                      "key_file": str(certs.client_key)}})
    server = HttpServer("127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: True, web=web)
    with pytest.raises(DriftdError) as info:
        server.start()
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'web.yml'}: tls_server_config: ")
    assert str(certs.server_cert) in message and str(certs.client_key) in message and "KEY_VALUES_MISMATCH" in message
    server.stop()  # never started: a no-op


def test_unreadable_and_encrypted_keys_and_an_empty_ca_fail_start(certs: Certs, tmp_path: Path) -> None:
    web = web_config(tmp_path, {"tls_server_config": tls_section(certs)})
    assert web.tls is not None
    gone = tmp_path / "gone.key"
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(certs.server_key), "-aes128", "-passout", "pass:x",
                    "-out", str(encrypted)], check=True, capture_output=True)
    not_a_ca = tmp_path / "not-a-ca.pem"
    not_a_ca.write_text("nothing here\n")
    cases = [
        (TlsServerConfig(web.tls.cert_file, gone), f"tls_server_config.key_file: cannot read {gone}: "),
        (TlsServerConfig(web.tls.cert_file, encrypted), f"tls_server_config.key_file: {encrypted} is encrypted"),
        (TlsServerConfig(web.tls.cert_file, web.tls.key_file, "RequireAndVerifyClientCert", not_a_ca),
         f"tls_server_config.client_ca_file: {not_a_ca} holds no PEM CA certificate"),
    ]
    for tls, expected in cases:
        server = HttpServer("127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: True,
                            web=WebConfig(web.path, tls))
        with pytest.raises(DriftdError, match=expected.replace(".", r"\.")):
            server.start()


def test_driftd_check_and_run_stop_at_a_bad_web_config_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("tls_server_config: {cert_file: none.crt, key_file: none.key, min_version: TLS10}\n")
    config = _daemon_config(tmp_path)
    for command in ("check", "run"):
        done = _driftd(command, config)
        assert done.returncode == 2, done.stderr
        web = tmp_path / "web.yml"
        assert f"{config}: server.web_config: {web}: tls_server_config.cert_file: no such file: " \
               f"{tmp_path / 'none.crt'}" in done.stderr
        assert f"{config}: server.web_config: {web}: tls_server_config.min_version: TLS10 is not supported" in done.stderr


def test_driftd_run_with_a_mismatched_key_fails_before_consuming(certs: Certs, tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text(yaml.safe_dump({"tls_server_config": {
        "cert_file": str(certs.server_cert), "key_file": str(certs.client_key)}}))
    config = _daemon_config(tmp_path)
    assert _driftd("check", config).returncode == 0  # the files exist; whether they pair is known at start
    done = _driftd("run", config)
    assert done.returncode == 1
    assert f"driftd run: {tmp_path / 'web.yml'}: tls_server_config: cert_file {certs.server_cert} and key_file " \
           f"{certs.client_key} do not hold a PEM certificate and its private key" in done.stderr
    assert " kafka." not in done.stderr  # no Kafka client logged a thing: it was never created


def _daemon_config(folder: Path) -> Path:
    """A daemon config whose Kafka broker is unreachable: nothing may get as far as consuming."""
    path = folder / "driftd.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap_servers": f"127.0.0.1:{free_port()}", "topics": {"predictions": "p"}},
        "storage": {"url": "sqlite:///driftd.db"},
        "server": {"host": "127.0.0.1", "port": free_port(), "web_config": "web.yml"},
        "models": [{"name": "churn", "task": "binary_classification", "reference": {"events": 100},
                    "window": {"size": "1h"}}],
    }))
    return path


def _driftd(command: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", command, "-c", str(config)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
