"""One demo run (steps 1-6): starts the parts in order, watches the windows, stops everything on a signal."""

from __future__ import annotations

import json
import math
import os
import queue
import secrets
import signal
import sys
import threading
import time
from typing import Any, Callable, TextIO

from monitor.demo.processes import Child, find_broker, free_port, start_broker, start_daemon, wait_ready
from monitor.demo.receiver import AlertReceiver
from monitor.demo.settings import DELIVERY_WAIT_S, LABEL_DELAY_S, LABEL_SHARE, MODEL, TOPICS, DemoOptions
from monitor.demo.show import HEADER, Console, alert_lines, clock, dashboards, driftd_command, window_line
from monitor.demo.traffic import Traffic, create_topics
from monitor.demo.workdir import prepare_workdir, write_config
from monitor.errors import StoreError
from monitor.judge.results import WindowResult


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
