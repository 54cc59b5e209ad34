"""The demo's work directory (step 3): cleared of a previous run, then given a config and a reference CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path

from monitor.demo.settings import ACCURACY_FLOOR, LABEL_SHARE, MODEL, PERFORMANCE_METRICS, TOPICS, DemoOptions
from monitor.demo.synthetic import ChurnTraffic, write_reference_csv

CONFIG = """\
# Written by `driftd demo`; the daemon it ran: driftd run -c {path}
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: driftd-demo
  topics: {{predictions: {predictions}, labels: {labels}}}
  start_from: earliest
  session_timeout_ms: 6000
storage:
  url: "sqlite:///demo.db"          # relative to this file's folder
  checkpoint_interval: 1s
server: {{host: 127.0.0.1, port: {metrics_port}}}
models:
  - name: {model}
    task: binary_classification
    reference: {{path: reference.csv}}
    window: {{size: {window}s, allowed_lateness: 2s, min_events: {min_events}, idle_close: 4s}}
    drift:
      statistics: [psi, ks, wasserstein, jensenshannon, chisquare]
      rules: {{psi: 0.2, chisquare: 0.001}}
      drift_share: 0.3
      critical_features: [age]
    performance:
      metrics: [{metrics}]
      min_labels: {min_labels}
      label_ttl: 10m
      rules: {{accuracy: {{below: {floor}}}}}
    alerts:
      consecutive_windows: 1
      cooldown: 5m                  # one alert of each kind per 5 minutes of windows
      webhooks: [retrain]
webhooks:
  retrain:
    url: "{hook}"
    secret: "{secret}"              # made for this run; the receiver checks X-Driftd-Signature with it
    timeout: 2s
    max_attempts: 10
    retry_initial: 500ms
    retry_max: 2s
"""


def write_config(workdir: Path, options: DemoOptions, bootstrap: str, metrics_port: int, hook: str,
                 secret: str) -> Path:
    """Write ``driftd.yaml`` and ``reference.csv`` into ``workdir``; return the config's path."""
    write_reference_csv(str(workdir / "reference.csv"), ChurnTraffic(seed=options.seed), 5000)
    path = workdir / "driftd.yaml"
    min_labels = max(20, int(options.min_events * LABEL_SHARE))  # accuracy ~0.67 +- 0.02 before the drift
    path.write_text(CONFIG.format(path=path, bootstrap=bootstrap, predictions=TOPICS["predictions"][0],
                                  labels=TOPICS["labels"][0], metrics_port=metrics_port, model=MODEL,
                                  window=options.window_s, min_events=options.min_events,
                                  metrics=", ".join(PERFORMANCE_METRICS), min_labels=min_labels,
                                  floor=ACCURACY_FLOOR, hook=hook, secret=secret))
    path.chmod(0o600)
    return path


def prepare_workdir(workdir: Path | None) -> Path:
    """The work directory, made if missing; a previous demo's store and logs are removed."""
    path = Path(tempfile.mkdtemp(prefix="driftd-demo-")) if workdir is None else Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    for name in ("demo.db", "demo.db-wal", "demo.db-shm", "driftd.log", "tansu.log", "demo.json"):
        (path / name).unlink(missing_ok=True)
    return path.resolve()
