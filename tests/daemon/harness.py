"""Run real `driftd run` processes against the test broker and store, and look at what they did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable

from tests.fixtures.kafka import free_port
from tests.fixtures.paths import ROOT

__all__ = ["DaemonProcess", "encode", "free_port", "metric_values", "wait_for", "write_config"]


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str | Callable[[], str],
             every_s: float = 0.2) -> object:
    """Poll until ``predicate()`` is truthy; fail naming ``what`` after ``timeout_s``.

    ``what`` may be a callable, called only on failure: a daemon's log tail then shows the log at the
    timeout, not at the start of the wait.
    """
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what() if callable(what) else what} "
                         f"(last: {last!r})")


def write_config(path: Path, *, bootstrap: str, topics: dict[str, str], store_url: str, group: str, port: int,
                 reference: Path, window: str = "{size: 1h, allowed_lateness: 0s, min_events: 10, idle_close: 3s}",
                 extra_kafka: str = "", performance: str = "{metrics: [accuracy, roc_auc], min_labels: 5, label_ttl: 1h}",
                 dead_letter_topic: str | None = None, session_timeout_ms: int = 6000,
                 features: str | None = None, limits: str | None = None, checkpoint_interval: str = "2s",
                 alerts: str | None = None, webhooks: str | None = None) -> Path:
    """A daemon config for one binary `churn` model."""
    topic_lines = ", ".join(f"{k}: {v}" for k, v in topics.items())
    dlq = f"\n  dead_letter_topic: {dead_letter_topic}" if dead_letter_topic else ""
    path.write_text(f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  topics: {{{topic_lines}}}
  session_timeout_ms: {session_timeout_ms}{dlq}
{extra_kafka}
storage: {{url: "{store_url}", checkpoint_interval: {checkpoint_interval}}}{"" if limits is None else chr(10) + "limits: " + limits}
server: {{host: 127.0.0.1, port: {port}}}
models:
  - name: churn
    task: binary_classification
    reference: {{path: {reference}}}{"" if features is None else chr(10) + "    features: " + features}
    window: {window}
    drift:
      statistics: [psi, ks, wasserstein, jensenshannon, chisquare]
      rules: {{psi: 0.2}}
      drift_share: 0.3
    performance: {performance}{"" if alerts is None else chr(10) + "    alerts: " + alerts}
{"" if webhooks is None else "webhooks: " + webhooks}
""")
    return path


class DaemonProcess:
    """One `driftd run` subprocess, stopped by its own pid."""

    def __init__(self, config: Path, log_path: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.port = port
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "DaemonProcess":
        log = open(self.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "-c", str(self.config)],
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"driftd exited with {self.proc.returncode}:\n{self.tail()}")
            return self.get("/readyz")[0] == 200
        wait_for(ready, timeout_s, lambda: f"driftd /readyz on port {self.port}\n{self.tail()}")

    def wait_logged(self, text: str, timeout_s: float = 60) -> None:
        """Wait for ``text`` in the log; on timeout the failure shows where every thread is (SIGUSR1)."""
        try:
            wait_for(lambda: text in self.tail(400), timeout_s, f"{text!r} in the log", every_s=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.stacks()}") from None

    def stacks(self) -> str:
        """The daemon's log ending with the stack of each of its threads (faulthandler on SIGUSR1)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.tail(80)
        self.signal(signal.SIGUSR1)
        try:
            # the main thread is dumped last, and its stack ends where `python -m` started it
            wait_for(lambda: "in _run_module_as_main" in self.tail(400), 10, "a stack dump", every_s=0.1)
        except AssertionError:
            pass  # the tail says what there is
        return self.tail(200)

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, status
        return body

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """kill -9: no chance to checkpoint."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait: the daemon drains and exits."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def metric_values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of one metric from /metrics text, keyed by their sorted labels."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def encode(messages: Iterable[dict[str, object]]) -> list[bytes]:
    return [json.dumps(m).encode() for m in messages]
