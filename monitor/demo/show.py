"""What the demo prints (step 5): whole lines from several threads, windows, alerts and their reasons."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TextIO

from monitor.demo.settings import PERFORMANCE_METRICS
from monitor.judge.results import WindowResult

_TESTS = ("ks", "chisquare")
"""Statistics whose threshold is a p-value (drift when below)."""


class Console:
    """Whole lines to the terminal from several threads; a closed terminal or pipe ends the output, not the caller.

    Once a write fails (``BrokenPipeError`` when the reader of a pipe has gone, as ``tee`` does on
    Ctrl-C; ``EIO`` when the terminal was closed), nothing more is printed, the stream's file
    descriptor is pointed at /dev/null so that the interpreter's last flush at exit succeeds (the
    Python docs' note on SIGPIPE), and ``on_closed`` is called once: the demo stops, as a program
    killed by SIGPIPE would, but in order.
    """

    def __init__(self, out: TextIO, on_closed: Callable[[], object] | None = None) -> None:
        self.out = out
        self.on_closed = on_closed
        self.closed = False
        self.lock = threading.Lock()

    def say(self, *lines: str) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                for line in lines:
                    print(line, file=self.out, flush=True)
            except (OSError, ValueError):  # ValueError: the stream itself was closed
                self._silence()
                if self.on_closed is not None:
                    self.on_closed()

    def _silence(self) -> None:
        self.closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:  # pragma: no cover - no /dev/null
            return
        try:
            os.dup2(devnull, self.out.fileno())
        except (OSError, ValueError):  # io.UnsupportedOperation is both: a stream without a descriptor
            pass
        finally:
            os.close(devnull)


def clock(ts: float) -> str:
    """Unix seconds -> local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(ts))



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
    folder = Path(__file__).resolve().parents[2] / "dashboards"
    return sorted(folder.glob("driftd-*.json"))


def driftd_command() -> str:
    """How to call ``driftd`` from here: the script beside this Python, else ``driftd``."""
    script = Path(sys.executable).parent / "driftd"
    return str(script) if script.is_file() else "driftd"
