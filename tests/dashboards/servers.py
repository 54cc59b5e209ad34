"""A real Prometheus server for the dashboard tests (the webhook receiver is tests.fixtures.receiver)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 30.0


class PrometheusServer:
    """``prometheus`` (the Debian package's binary) on 127.0.0.1:``port``, storage in ``workdir``, stopped by pid.

    It scrapes ``scrape_target`` as job ``driftd``, or, when given, the jobs of ``scrape_configs``.
    """

    def __init__(self, workdir: Path, port: int, scrape_target: str, rule_files: list[Path],
                 scrape_configs: list[dict[str, Any]] | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.config = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        if scrape_configs is None:
            scrape_configs = [{"job_name": "driftd", "static_configs": [{"targets": [scrape_target]}]}]
        self.config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": scrape_configs,
        }, indent=2))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "PrometheusServer":
        binary = shutil.which("prometheus")
        assert binary, "prometheus is not installed: run `make services` (apt-get install prometheus)"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus not ready on port {self.port} after {READY_TIMEOUT_S:.0f}s:\n{self.tail()}")

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the ``data`` of a successful answer (fails on an error answer)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one element) of ``expr`` evaluated now."""
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
