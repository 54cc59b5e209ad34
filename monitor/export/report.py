"""Render judged windows for people (a table) and for programs (the JSON document of docs/cli.md).

``status --json`` and ``replay --json`` print the same shape; times are RFC 3339 in UTC with ``Z``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from monitor.judge.results import FeatureResult, WindowResult, rfc3339


@dataclass(frozen=True)
class ModelReport:
    """What is shown for one model: windows newest first, alerts, deliveries not yet made."""

    name: str
    windows: Sequence[WindowResult]
    alerts: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    pending_deliveries: int = 0


def alert_document(alert: Any) -> dict[str, Any]:
    """One alert as ``status`` shows it: id, kind, delivery state, window end, and per-webhook deliveries."""
    return {"id": alert.id, "kind": alert.kind, "state": alert.state, "window_end": rfc3339(alert.window_end),
            "deliveries": [dict(d) for d in alert.deliveries]}



def _num(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def feature_document(result: FeatureResult, with_flag: bool = True) -> dict[str, Any]:
    """One feature's statistics: ``{"psi": ..., "ks": ..., "ks_pvalue": ..., "missing_ratio": ..., "drifted": ...}``."""
    doc: dict[str, Any] = {}
    for statistic, value in result.values.items():
        doc[statistic] = _num(value)
        if statistic in result.pvalues:
            doc[f"{statistic}_pvalue"] = _num(result.pvalues[statistic])
    doc["missing_ratio"] = _num(result.missing_ratio)
    if with_flag:
        doc["drifted"] = result.drifted
    return doc


def window_document(window: WindowResult) -> dict[str, Any]:
    """One window as docs/cli.md shows it."""
    doc: dict[str, Any] = {
        "start": rfc3339(window.start), "end": rfc3339(window.end), "events": window.events,
        "judged": window.judged, "drift_share": _num(window.drift_share) if window.drift_share is not None else None,
        "drifted": window.drifted,
        "features": {f.name: feature_document(f) for f in window.features},
        "prediction": feature_document(window.prediction, with_flag=True) if window.prediction else None,
        "performance": {k: _num(v) for k, v in window.performance.items()},
        "labels": window.labels,
    }
    reasons = [r for f in (*window.features, *([window.prediction] if window.prediction else [])) for r in f.reasons]
    doc["reasons"] = [{"feature": r.feature, "statistic": r.statistic, "value": _num(r.value),
                       "threshold": r.threshold} for r in reasons]
    if window.model_version is not None:
        doc["model_version"] = window.model_version
    if window.reference_version is not None:
        doc["reference"] = f"{window.model}@{window.reference_version}"
    return doc


def document(models: Sequence[ModelReport], rejected: Mapping[str, int] | None = None,
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole JSON document; windows newest first."""
    doc: dict[str, Any] = {"models": [
        {"name": m.name,
         "windows": [window_document(w) for w in sorted(m.windows, key=lambda w: (w.end, w.start), reverse=True)],
         "alerts": list(m.alerts), "pending_deliveries": m.pending_deliveries}
        for m in models]}
    doc["rejected"] = dict(sorted((rejected or {}).items()))
    if extra:
        doc.update(extra)
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    """JSON text of a document (no NaN: non-finite numbers were turned into null)."""
    return json.dumps(doc, indent=2, allow_nan=False)


def _short(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"


def _why(window: WindowResult, limit: int = 3) -> str:
    reasons = [r for f in (*window.features, *([window.prediction] if window.prediction else [])) for r in f.reasons]
    reasons.sort(key=lambda r: (r.feature, r.statistic))
    parts = []
    for r in reasons[:limit]:
        op = "<" if r.statistic in ("ks", "chisquare") else ">"
        label = f"{r.statistic} p" if op == "<" else r.statistic
        parts.append(f"{r.feature} {label}={_short(r.value)}{op}{_short(r.threshold)}")
    if len(reasons) > limit:
        parts.append(f"+{len(reasons) - limit} more")
    return "; ".join(parts)


def table(models: Sequence[ModelReport], rejected: Mapping[str, int] | None = None) -> str:
    """A readable table: one block per model, one row per window (newest first), with why it drifted."""
    lines: list[str] = []
    for m in models:
        lines.append(f"model {m.name}: {len(m.windows)} window(s), {len(m.alerts)} alert(s), "
                     f"{m.pending_deliveries} pending deliveries")
        header = ("start", "end", "events", "judged", "share", "drifted", "labels", "performance", "why")
        rows = []
        for w in sorted(m.windows, key=lambda w: (w.end, w.start), reverse=True):
            perf = " ".join(f"{k}={_short(v)}" for k, v in w.performance.items())
            drifted = "-" if w.drifted is None else ("DRIFT" if w.drifted else "ok")
            rows.append((rfc3339(w.start), rfc3339(w.end), str(w.events), "yes" if w.judged else "no",
                         _short(w.drift_share), drifted, str(w.labels), perf or "-", _why(w) or "-"))
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines.append("  " + "  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip())
        lines.extend("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
        lines.append("")
    if rejected:
        lines.append("rejected: " + ", ".join(f"{k}={v}" for k, v in sorted(rejected.items())))
    return "\n".join(lines).rstrip() + "\n"
