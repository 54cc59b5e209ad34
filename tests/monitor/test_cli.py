"""The `driftd` console script as a user runs it: exit codes, messages, and what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from monitor.cli import main
from tests.fixtures.paths import ROOT

DRIFTD = [sys.executable, "-m", "monitor.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRIFTD, *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, **(env or {})})


def test_check_accepts_the_example_config():
    done = run("check", "-c", "config/example.yaml", env={"DRIFTD_WEBHOOK_SECRET": "s3cret-value"})
    assert done.returncode == 0, done.stderr
    assert "config/example.yaml: ok (2 models)" in done.stdout
    assert "s3cret-value" not in done.stdout + done.stderr


def test_check_reports_every_problem_with_its_key_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""
models:
  - name: churn
    task: binary_classification
    reference: {path: ref.csv}
    window: {size: ten minutes}
    drift: {statistics: [psi, kss], drift_share: 1.5}
""")
    done = run("check", "-c", str(bad))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert any("models[0].window.size" in line and "ten minutes" in line for line in lines)
    assert any("models[0].drift.statistics" in line and "kss" in line for line in lines)
    assert any("models[0].drift.drift_share" in line for line in lines)
    assert all(line.startswith(str(bad)) for line in lines)


def test_check_reports_malformed_yaml_with_line_and_column(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("models:\n  - name: [unclosed\n")
    done = run("check", "-c", str(bad))
    assert done.returncode == 2 and "line 3" in done.stderr


def test_usage_errors_exit_2():
    done = run("replay")
    assert done.returncode == 2 and "--config" in done.stderr
    assert run("frobnicate").returncode == 2


def test_status_of_an_empty_store(tmp_path, capsys):
    config = tmp_path / "d.yaml"
    config.write_text(f"""
storage: {{url: "sqlite:///{tmp_path}/d.db"}}
models: [{{name: churn, task: regression, reference: {{events: 100}}, window: {{events: 100}}}}]
""")
    assert main(["status", "-c", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "models": [{"name": "churn", "windows": [], "alerts": [], "pending_deliveries": 0}], "rejected": {}}
    assert main(["status", "-c", str(config)]) == 0
    assert "model churn: 0 window(s)" in capsys.readouterr().out
    assert main(["status", "-c", str(config), "--model", "nope"]) == 2
    assert "not configured" in capsys.readouterr().err
    assert main(["status", "-c", str(config), "--limit", "-1"]) == 2


def test_a_store_that_cannot_be_reached_exits_1(tmp_path, capsys):
    config = tmp_path / "d.yaml"
    config.write_text("""
storage: {url: "postgresql+psycopg://driftd:hunter2@127.0.0.1:1/nothing"}
models: [{name: churn, task: regression, reference: {events: 100}, window: {events: 100}}]
""")
    assert main(["status", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err and "hunter2" not in err
