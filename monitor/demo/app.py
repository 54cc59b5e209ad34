"""One demo run (steps 1-6): starts the parts in order, watches the windows, stops everything on a signal."""

from __future__ import annotations

import json
import math
import os
import queue
import secrets
import signal
import socket
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
        self.console = Console(out, self._output_closed)
        self.stopping = threading.Event()
        self.hurry = threading.Event()  # a second signal: no waiting for webhooks, a part still running is killed
        self.signals: list[int] = []  # those received, in order
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

    def _note(self, **items: Any) -> None:
        """:meth:`_record` during the shutdown, where a full disk must not keep a part running."""
        try:
            self._record(**items)
        except OSError:
            pass

    def asked(self, signum: int) -> None:
        """A signal arrived (SIGINT, SIGTERM, SIGHUP): the first stops the demo, any later one hurries it."""
        self.signals.append(signum)
        if len(self.signals) > 1:
            self.hurry.set()
        self.stopping.set()

    def _output_closed(self) -> None:
        """Stdout is gone (the pipe's reader exited, the terminal closed): stop, as if asked."""
        self.stopping.set()

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
        """Step 6: stop what was started, newest first, each by its own pid; only then print (stdout may be gone).

        Nothing here prints or raises before every part is stopped: a part failing to stop is
        reported and the next one is stopped all the same. What was stopped also goes to
        ``demo.json``, for when there is no terminal left to read it on.
        """
        self.stopping.set()
        self._note(stopping_at=time.time())
        stopped: list[str] = []

        def step(name: str, stop: Callable[[], object]) -> None:  # one part failing to stop never keeps the next
            try:
                result = stop()
            except Exception as exc:  # noqa: BLE001 - reported, then the next part is stopped
                stopped.append(f"{name} (failed to stop: {exc!r})")
                return
            stopped.append(f"{name} ({result})" if isinstance(result, str) else name)

        traffic, daemon, receiver, broker = self.traffic, self.daemon, self.receiver, self.broker
        try:
            if traffic is not None:
                step("traffic", lambda: traffic.stop(self.hurry))
            if daemon is not None:
                try:
                    self._let_deliveries_finish()
                except Exception:  # noqa: BLE001 - the store failing here must not keep the daemon running
                    pass
                step("daemon", self._stop_daemon)
            if receiver is not None:
                step("receiver", receiver.stop)
            if broker is not None:
                step("broker", lambda: broker.stop(hurry=self.hurry))
        finally:
            self._note(stopped=stopped, failure=self.failure)
            try:
                if self.store is not None:
                    self._print_news()  # the daemon's final checkpoint may have closed one more window
                if stopped:
                    self.console.say("", "Stopped: " + ", ".join(stopped) + ".")
                if self.store is not None:
                    self._summary()
            finally:
                if self.store is not None:
                    self.store.close()

    def _stop_daemon(self) -> str:
        assert self.daemon is not None
        code = self.daemon.stop(hurry=self.hurry)
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


class _Signals:
    """SIGINT, SIGTERM and SIGHUP go to :meth:`Demo.asked`, from a thread of their own.

    The Python-level handlers do nothing: the interpreter's C handler writes each signal's number
    to a socket (:func:`signal.set_wakeup_fd`) and a thread reads it and calls ``on_signal``. So no
    lock is taken in a signal handler (setting an Event there deadlocks if the main thread was
    interrupted inside that Event's wait, as it mostly is during the shutdown), and a signal is
    acted on even while the main thread is blocked.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self.on_signal = on_signal
        self.reader, self.writer = socket.socketpair()
        self.writer.setblocking(False)
        self.previous: dict[int, Any] = {}
        self.previous_fd: int | None = None
        self.thread = threading.Thread(target=self._watch, name="demo-signals", daemon=True)

    def __enter__(self) -> "_Signals":
        self.thread.start()
        try:
            self.previous_fd = signal.set_wakeup_fd(self.writer.fileno(), warn_on_full_buffer=False)
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, _noted)
        except BaseException:  # ValueError: not the main thread; put back what was changed
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.previous_fd is not None:
            signal.set_wakeup_fd(self.previous_fd)
        self.writer.close()  # the watcher reads the end of the stream and returns
        self.thread.join(timeout=5)
        self.reader.close()

    def _watch(self) -> None:
        while True:
            try:
                data = self.reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in self.SIGNALS:
                    self.on_signal(signum)


def _noted(signum: int, frame: object) -> None:
    """The Python-level handler: nothing (the wakeup socket carries the signal to the watcher thread)."""


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run the demo until ``options.duration_s``, a signal or stdout closing; return the exit code.

    0: stopped as asked (the duration, SIGINT, SIGTERM, SIGHUP, the output closed); 1: a part failed.
    """
    demo = Demo(options, find_broker(), out or sys.stdout)  # a missing broker fails before anything is made
    with _Signals(demo.asked):
        try:
            return demo.run()
        finally:
            demo.shutdown()
