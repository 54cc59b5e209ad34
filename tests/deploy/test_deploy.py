"""The container image and the docker compose stack, checked without Docker.

Nothing here runs Docker. The tests read Dockerfile, .dockerignore and deploy/ and prove what
can be proved on this machine: the compose file parses, everything it mounts from the
repository is there, driftd's config passes `driftd check` as the container sees it (its
mounts laid out in a temporary folder, its environment taken from the compose file), the
Prometheus config passes `promtool check config` (promtool is required: a missing promtool
fails the test), the Grafana provisioning points at what is mounted, and the Dockerfile
builds a multi-stage, non-root image with a health check. The helper scripts the stack runs
(webhook receiver, sample producer) are exercised on the loopback interface.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, Iterator

import pytest
import yaml
from tests.fixtures.paths import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CONFIG_IN_IMAGE = "/etc/driftd/config.yaml"
METRICS_PORT = 9108

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# --- reading the files ------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file: no services"
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"compose file: no service {name!r} (has {sorted(services)})"
    return services[name]


def bind_mounts(svc: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """``(host path, container path)`` of a service's bind mounts (paths relative to deploy/)."""
    out = []
    for entry in svc.get("volumes", []):
        if isinstance(entry, dict):
            if entry.get("type") != "bind":
                continue
            source, target = entry["source"], entry["target"]
        else:
            source, target = entry.split(":")[:2]
        if source.startswith((".", "/", "~")):
            out.append(((DEPLOY / source).resolve(), PurePosixPath(target)))
    return out


def host_path(svc: dict[str, Any], container_path: str | PurePosixPath) -> Path | None:
    """The host file a container path is, through the service's bind mounts (the deepest mount wins)."""
    path = PurePosixPath(container_path)
    best: tuple[Path, PurePosixPath] | None = None
    for source, target in bind_mounts(svc):
        if (path == target or target in path.parents) and (best is None or len(target.parts) > len(best[1].parts)):
            best = (source, target)
    if best is None:
        return None
    source, target = best
    return source.joinpath(*path.relative_to(target).parts)


def compose_env(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment as compose would set it, with a stand-in for each required ``${VAR:?}``."""
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)

    def value(match: re.Match[str]) -> str:
        name, op, word = match.groups()
        if op and op.endswith("-"):
            return word
        return f"stand-in-for-{name.lower()}"

    return {key: _VAR.sub(value, str(raw)) for key, raw in env.items()}


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as ``(KEYWORD, arguments)``, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends in a continuation line"
    return out


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each from its FROM on."""
    result: list[list[tuple[str, str]]] = []
    for keyword, args in dockerfile():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", DEPLOY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- docker compose ---------------------------------------------------------------------------

def test_compose_file_has_the_stack():
    data = compose()
    assert "version" not in data, "the `version:` key is obsolete in Compose v2"
    services = data["services"]
    for name in ("kafka", "postgres", "prometheus", "grafana", "driftd"):
        assert name in services, name
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    build = services["driftd"]["build"]
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_every_image_is_pinned_to_a_version():
    for name, svc in compose()["services"].items():
        if "build" in svc:
            continue
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin a version tag, not {image!r}"


def test_every_mount_from_the_repository_exists():
    missing = [f"{name}: {source} (-> {target})"
               for name, svc in compose()["services"].items()
               for source, target in bind_mounts(svc) if not source.exists()]
    assert not missing, "mounted but not in the repository:\n" + "\n".join(missing)


def test_named_volumes_are_declared():
    data = compose()
    declared = set(data.get("volumes") or {})
    for name, svc in data["services"].items():
        for entry in svc.get("volumes", []):
            source = entry.split(":")[0] if isinstance(entry, str) else entry.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source!r} is not declared under top-level volumes"


def test_published_ports_listen_on_loopback_only():
    for name, svc in compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish {port!r} on 127.0.0.1 only"


def test_depends_on_names_services():
    services = compose()["services"]
    for name, svc in services.items():
        for other in svc.get("depends_on", []):
            assert other in services, f"{name} depends on unknown service {other!r}"


def test_required_variables_are_in_the_env_example():
    text = COMPOSE.read_text(encoding="utf-8")
    required = {m.group(1) for m in _VAR.finditer(text) if m.group(2) and m.group(2).endswith("?")}
    assert {"DRIFTD_WEBHOOK_SECRET", "POSTGRES_PASSWORD"} <= required
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    defined = {line.split("=", 1)[0].strip() for line in example.splitlines()
               if "=" in line and not line.lstrip().startswith("#")}
    assert required <= defined, f"missing from deploy/.env.example: {sorted(required - defined)}"
    assert ".env" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()


# --- driftd's configuration, as the container sees it -----------------------------------------

@pytest.fixture
def container_root(tmp_path: Path) -> Path:
    """The driftd service's bind mounts laid out under tmp_path as they appear in the container.

    Files are copied (so the config's folder is the container's /etc/driftd, not deploy/),
    folders are linked.
    """
    for source, target in bind_mounts(service("driftd")):
        place = tmp_path.joinpath(*target.parts[1:])
        place.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            place.symlink_to(source, target_is_directory=True)
        else:
            shutil.copyfile(source, place)
    return tmp_path


def test_driftd_config_passes_driftd_check_in_the_container(container_root: Path):
    driftd = service("driftd")
    config = container_root / CONFIG_IN_IMAGE.lstrip("/")
    assert config.is_file(), f"nothing is mounted at {CONFIG_IN_IMAGE}, where the image's CMD reads its config"
    assert host_path(driftd, CONFIG_IN_IMAGE) == DEPLOY / "driftd.yaml"
    text = config.read_text(encoding="utf-8")
    referenced = {m.group(1) for m in _VAR.finditer(text)}
    # Only what compose gives the container: a ${VAR} compose does not set must fail the check.
    env = {k: v for k, v in os.environ.items() if k not in referenced}
    env.update(compose_env(driftd))
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "-c", str(config)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ok (1 model)" in done.stdout
    assert "stand-in-for" not in done.stdout + done.stderr, "a secret was printed"


def test_driftd_config_points_at_the_compose_services(container_root: Path):
    from monitor.config import load_config

    driftd = service("driftd")
    config = load_config(container_root / CONFIG_IN_IMAGE.lstrip("/"), env=compose_env(driftd))
    services = compose()["services"]
    assert config.kafka is not None
    host, _, port = config.kafka.bootstrap_servers.partition(":")
    assert host == "kafka", config.kafka.bootstrap_servers
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"//kafka:{port}" in advertised, f"kafka:{port} is not an advertised listener: {advertised}"
    created = set(re.findall(r"\bml\.[a-z.]+", " ".join(services["kafka-init"]["command"])))
    topics = {t for t in vars(config.kafka.topics).values() if t} | {config.kafka.dead_letter_topic}
    assert topics <= created, f"topics kafka-init does not create: {sorted(topics - created)}"
    assert config.storage.url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in config.storage.url
    assert "POSTGRES_PASSWORD" in driftd["environment"]
    assert config.server.port == METRICS_PORT
    secret = config.webhooks["retrain"].secret
    assert secret is not None and secret.reveal() == compose_env(driftd)["DRIFTD_WEBHOOK_SECRET"]
    assert 'secret: "${DRIFTD_WEBHOOK_SECRET}"' in (DEPLOY / "driftd.yaml").read_text(), "secrets come from ${VAR}"
    receiver = compose_env(driftd)["DRIFTD_WEBHOOK_URL"]
    assert config.webhooks["retrain"].url == receiver
    assert receiver.split("//")[1].split(":")[0] in services, receiver
    for model in config.models:
        if model.reference.path is not None:  # a file the container reads through a mount
            assert model.reference.path.is_file(), model.reference.path


# --- Prometheus ---------------------------------------------------------------------------------

def test_prometheus_config_passes_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (scripts/ensure-services.sh installs prometheus, which has it)",
                    pytrace=False)
    done = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_scrapes_driftd_and_loads_the_mounted_rules():
    prometheus = service("prometheus")
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    in_container = PurePosixPath(config_flag.split("=", 1)[1])
    assert host_path(prometheus, in_container) == DEPLOY / "prometheus.yml"
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    targets = [t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]]
    assert f"driftd:{METRICS_PORT}" in targets
    assert config["rule_files"], "no rule files"
    for rule_file in config["rule_files"]:
        on_host = (DEPLOY / rule_file).resolve()
        assert on_host == ROOT / "dashboards" / "driftd-rules.yml"
        container = PurePosixPath(os.path.normpath(str(in_container.parent / rule_file)))
        assert host_path(prometheus, container) == on_host, f"{rule_file} is not mounted at {container}"
        assert on_host.is_file(), on_host


# --- Grafana ------------------------------------------------------------------------------------

def test_grafana_provisioning_matches_the_mounts():
    grafana = service("grafana")
    datasources = host_path(grafana, "/etc/grafana/provisioning/datasources/driftd.yml")
    providers = host_path(grafana, "/etc/grafana/provisioning/dashboards/driftd.yml")
    assert providers == ROOT / "dashboards" / "provisioning" / "dashboards.yml"
    # The stack's data source is dashboards/provisioning/datasources.yml with this network's url.
    assert datasources == DEPLOY / "grafana-datasources.yml"
    ours = yaml.safe_load(datasources.read_text())["datasources"]
    theirs = yaml.safe_load((ROOT / "dashboards" / "provisioning" / "datasources.yml").read_text())["datasources"]
    assert [{k: v for k, v in ds.items() if k != "url"} for ds in ours] == \
        [{k: v for k, v in ds.items() if k != "url"} for ds in theirs]
    urls = [ds.get("url", "") for ds in ours if ds.get("type") == "prometheus"]
    assert urls, "no prometheus datasource"
    assert all(re.fullmatch(r"https?://prometheus:9090/?", url) for url in urls), urls
    assert "prometheus" in compose()["services"]

    for provider in yaml.safe_load(providers.read_text())["providers"]:
        folder = host_path(grafana, provider["options"]["path"])
        assert folder is not None and folder.is_dir(), f"provider path {provider['options']['path']} is not mounted"
    for name in ("driftd-overview.json", "driftd-model.json"):
        board = ROOT / "dashboards" / name
        json.loads(board.read_text(encoding="utf-8"))
        assert any(host_path(grafana, provider["options"]["path"]) == board.parent
                   for provider in yaml.safe_load(providers.read_text())["providers"]), f"{name} is not provisioned"
    home = host_path(grafana, grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home is not None and home.is_file()


# --- Dockerfile ---------------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_and_ships_only_the_venv():
    builder, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert re.search(r"\bAS\s+builder\b", builder[0][1], re.IGNORECASE)
    build_text = " ".join(args for _, args in builder)
    assert "pip wheel" in build_text and "/opt/venv" in build_text
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"], copies
    assert "python:3.11-slim" in DOCKERFILE.read_text()


def test_dockerfile_runs_as_a_fixed_non_root_user():
    users = [args for keyword, args in stages()[-1] if keyword == "USER"]
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user.isdigit() and int(user) >= 1000, users[-1]


def test_dockerfile_runtime_contract():
    final = stages()[-1]
    by_keyword: dict[str, list[str]] = {}
    for keyword, args in final:
        by_keyword.setdefault(keyword, []).append(args)
    assert str(METRICS_PORT) in by_keyword["EXPOSE"][-1].split()
    assert json.loads(by_keyword["ENTRYPOINT"][-1]) == ["driftd"]
    assert json.loads(by_keyword["CMD"][-1]) == ["run", "-c", CONFIG_IN_IMAGE]
    assert "/var/lib/driftd" in by_keyword["VOLUME"][-1]
    labels = " ".join(by_keyword["LABEL"])
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    assert "healthz" in " ".join(by_keyword["ENV"]) and "127.0.0.1:9108" in " ".join(by_keyword["ENV"])
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "driftd" in scripts


def test_dockerfile_copies_only_what_exists_and_is_not_ignored():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for pattern in (".venv", "bench/.venv", ".git", "*.db", ".pytest_cache", ".hypothesis", ".mypy_cache"):
        assert pattern in ignored, f".dockerignore should exclude {pattern}"
    for keyword, args in stages()[0]:
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source not in ignored, f"{source} is copied but excluded by .dockerignore"


@pytest.fixture
def healthz_server() -> Iterator[str]:
    from prometheus_client import CollectorRegistry

    from monitor.export.http import HttpServer

    server = HttpServer("127.0.0.1", 0, CollectorRegistry(), healthy=lambda: True, ready=lambda: False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/healthz"
    finally:
        server.stop()


def test_healthcheck_command_passes_against_driftds_http_server(healthz_server: str):
    healthcheck = next(args for keyword, args in stages()[-1] if keyword == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert command[0].endswith("python") and command[1] == "-c"
    env = {**os.environ, "DRIFTD_HEALTHCHECK_URL": healthz_server}
    done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    down = {**env, "DRIFTD_HEALTHCHECK_URL": healthz_server.replace("/healthz", "/nothing")}
    assert subprocess.run([sys.executable, *command[1:]], env=down, capture_output=True, timeout=30).returncode != 0


# --- the helper scripts -------------------------------------------------------------------------

def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/hooks/retrain", body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_webhook_receiver_checks_signatures_and_deduplicates():
    module = load_script("webhook_receiver")
    server = module.Receiver(("127.0.0.1", 0), "s3cret", 300.0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        body = json.dumps({"id": "drift:churn:0:3600", "kind": "drift", "model": "churn",
                           "window": {"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T01:00:00Z", "events": 9},
                           "reasons": [{"feature": "age", "statistic": "psi", "value": 0.3, "threshold": 0.2}]}).encode()
        t = str(int(time.time()))
        signature = hmac.new(b"s3cret", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {"Idempotency-Key": "drift:churn:0:3600", "X-Driftd-Signature": f"t={t},v1={signature}"}
        assert _post(port, body, headers) == 204
        assert _post(port, body, headers) == 200  # the same alert again: a duplicate
        assert len(server.received) == 1
        assert _post(port, body, {**headers, "X-Driftd-Signature": f"t={t},v1={'0' * 64}"}) == 401
        assert _post(port, body, {"Idempotency-Key": "x"}) == 401
        old = str(int(time.time()) - 3600)
        stale = hmac.new(b"s3cret", f"{old}.".encode() + body, hashlib.sha256).hexdigest()
        assert _post(port, body, {"X-Driftd-Signature": f"t={old},v1={stale}"}) == 401
    finally:
        server.shutdown()
        server.server_close()


def test_sample_producer_routes_labels_and_keeps_bad_lines():
    module = load_script("produce_sample")
    lines = [b'{"model": "churn", "prediction_id": "p0", "timestamp": 1, "features": {}, "prediction": 0.5}\n',
             b"not json at all\n", b"\n",
             b'{"model": "churn", "prediction_id": "p0", "timestamp": 2, "label": 1}\n',
             b"[1, 2, 3]\n"]
    routed = list(module.route(lines, "P", "L"))
    assert routed == [("P", b"churn", lines[0].rstrip()), ("P", None, b"not json at all"),
                      ("L", b"churn", lines[3].rstrip()), ("P", None, b"[1, 2, 3]")]
    sample = service("sample-traffic")
    assert host_path(sample, sample["command"][-1]) == ROOT / "config" / "data" / "churn_events.jsonl"
    assert host_path(sample, sample["entrypoint"][-1]) == DEPLOY / "produce_sample.py"
