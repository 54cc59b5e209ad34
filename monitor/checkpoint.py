"""One checkpoint: everything fed since the last one, written in one transaction (README "The guarantees": each event counts exactly once).

In numbered steps, inside a single store transaction:

1. read each model's ``closed_until`` (another daemon may have judged windows since);
2. write each dirty partial window summary of this daemon's shards: what arrived since the last
   checkpoint as a delta, or in full now and then (a partial for a window that has closed
   meanwhile is dropped and its events counted late);
3. write each shard's watermark (largest event time, wall time of its newest event);
4. write the label-join rows fed and join them;
5. move this daemon's partition offsets forward with a compare-and-set on the offsets the
   batches started from: a stale owner fails here and the whole transaction rolls back;
6. close the windows every shard has passed (the shards of every daemon, read from the store),
   merging their partial summaries from the store, judging them, storing the result;
   and raising their alerts into the outbox (``monitor.alerts.outbox``);
7. recompute the performance of judged windows that got new labels, raising performance alerts;
8. expire label-join rows past the TTL and past the bound.

Only after the commit does the in-memory state move on (offsets, closed windows dropped).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from detectors.summary import WindowSummary
from monitor.alerts.outbox import Outbox
from monitor.alerts.rules import Alert
from monitor.config import Config
from monitor.judge.results import WindowResult
from monitor.judge.verdict import judge_closed, performance_metrics
from monitor.store import Store
from monitor.windows.pipeline import Fed, ModelRuntime, Pipeline
from monitor.windows.tumbling import ClosedWindow, CountWindows, TimeWindows

log = logging.getLogger(__name__)

_RECENT_WINDOWS = 1000
"""How many of a model's newest windows may still get labels (a bound on what a refresh reads)."""

COUNT_SHARD = "count"
"""Shard name under which a count window's partial state is kept (count windows are per daemon)."""


@dataclass
class Pending:
    """What was fed since the last checkpoint: offsets reached, label-join rows, count windows closed."""

    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    predictions: dict[str, list[tuple[str, float, Any]]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, list[tuple[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    closed: list[ClosedWindow] = field(default_factory=list)
    events: int = 0
    rows: int = 0

    def add(self, fed: Fed, topic: str, partition: int, next_offset: int, events: int, *, join_labels: bool) -> None:
        """Note one fed batch of one partition (its predictions wait for labels only when labels are consumed)."""
        self.offsets[(topic, partition)] = next_offset
        for model, (pids, keys, predictions) in fed.predictions.items() if join_labels else ():
            self.predictions[model].extend(zip(pids, keys, predictions))
        for model, (pids, labels) in fed.labels.items():
            self.labels[model].extend(zip(pids, labels))
        self.closed.extend(fed.closed)
        self.events += events
        self.rows = sum(map(len, self.predictions.values())) + sum(map(len, self.labels.values()))


@dataclass
class Outcome:
    """What a committed checkpoint did, for the metrics and the logs."""

    results: list[WindowResult] = field(default_factory=list)
    refreshed: list[WindowResult] = field(default_factory=list)
    late: Counter[str] = field(default_factory=Counter)
    joined: Counter[str] = field(default_factory=Counter)
    expired: Counter[str] = field(default_factory=Counter)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    touched: dict[str, set[float]] = field(default_factory=dict)
    """Per model, the windows (by start) that got new labels."""
    alerts: list[Alert] = field(default_factory=list)
    """Alerts this checkpoint wrote to the outbox."""


def _holds(shard: Any, backlog: set[str], idle_s: float | None, now: float) -> bool:
    """Whether a partition holds a model's watermark back.

    A partition's watermark is the newest event time read from it (any model's event). It holds
    the model back while it had events within ``idle_close``, and, however long it has been
    quiet, while its log has messages past its stored offset: a partition whose owner is slow,
    frozen or dead is not idle, its unread messages may hold the model's events.
    """
    return idle_s is None or now - shard.last_seen < idle_s or shard.shard in backlog


class Checkpointer:
    """Writes checkpoints for one daemon: its shards, its offsets, and the windows they close."""

    def __init__(self, config: Config, store: Store, pipeline: Pipeline, group_id: str) -> None:
        self.config = config
        self.store = store
        self.pipeline = pipeline
        self.group_id = group_id
        self.stored: dict[tuple[str, int], int | None] = {}
        """The offset each owned partition has in the store: the compare-and-set's expected value."""
        self._log_ends: dict[tuple[str, int], int] = {}
        self.outbox = Outbox(store)

    def commit(self, pending: Pending, now: float, log_ends: Mapping[tuple[str, int], int] | None = None) -> Outcome:
        """Write one checkpoint; raises StaleOwnerError (nothing written) if a partition moved on.

        ``log_ends`` (every partition's log end offset) tells which partitions still have messages
        to read: those hold the watermark back even when their owner has been silent.
        """
        outcome = Outcome()
        self._log_ends = dict(log_ends or {})
        with self.store.transaction() as conn:
            closed_until = self._closed_until(conn)                                       # 1
            for runtime in self.pipeline.models.values():
                self._write_partials(runtime, closed_until, outcome, now, conn)           # 2, 3
            self._write_labels(pending, outcome, now, conn)                               # 4
            moves = [(t, p, self.stored.get((t, p)), offset) for (t, p), offset in pending.offsets.items()
                     if offset != self.stored.get((t, p))]
            if moves:
                self.store.advance_offsets(self.group_id, moves, conn=conn)               # 5
            for runtime in self.pipeline.models.values():
                self._close_due(runtime, pending, outcome, now, conn)                     # 6
            self._refresh_performance(outcome, now, conn)                                 # 7
            self._expire(outcome, now, conn)                                              # 8
            outcome.offsets = dict(pending.offsets)
        self._after_commit(pending, outcome)
        return outcome

    def _closed_until(self, conn: Any) -> dict[str, float]:
        out = {}
        for name, runtime in self.pipeline.models.items():
            state = self.store.get_model_state(name, conn=conn)
            stored = state.closed_until if state is not None and state.closed_until is not None else float("-inf")
            windows = runtime.windows
            if isinstance(windows, TimeWindows):
                windows.closed_until = max(windows.closed_until, stored)
            out[name] = stored
        return out

    def _write_partials(self, runtime: ModelRuntime, closed_until: dict[str, float], outcome: Outcome,
                        now: float, conn: Any) -> None:
        windows = runtime.windows
        name = runtime.config.name
        if isinstance(windows, CountWindows):
            current = windows.current
            if current is not None and current.events:
                self.store.save_window_state(name, COUNT_SHARD, current.key, current.key,
                                             current.parts[""].to_bytes(), current.events, now, conn=conn)
            self.store.save_model_state(name, 0.0, windows.sequence, now, conn=conn)
            return
        if not isinstance(windows, TimeWindows):
            return
        for start in sorted(windows.open):
            window = windows.open[start]
            if window.end <= closed_until.get(name, float("-inf")):  # judged elsewhere meanwhile: late
                outcome.late[name] += window.events
                del windows.open[start]
                continue
            for shard in sorted(window.dirty):
                part = window.parts[shard]
                full, blob = part.checkpoint_blob()  # a delta, when the store has a full payload to append to
                if full:
                    self.store.save_window_state(name, shard, window.start, window.end, blob, part.n, now, conn=conn)
                else:
                    self.store.append_window_delta(name, shard, window.start, blob, part.n, now, conn=conn)
            window.dirty.clear()
        for shard, state in windows.shards.items():
            self.store.save_shard_state(name, shard, state.max_event_time, state.last_seen_wall, now, conn=conn)

    def _write_labels(self, pending: Pending, outcome: Outcome, now: float, conn: Any) -> None:
        for model, rows in pending.predictions.items():
            if rows:
                self.store.add_predictions(model, rows, now, conn=conn)
        for model, rows in pending.labels.items():
            if rows:
                self.store.add_labels(model, rows, now, conn=conn)
        for model in set(pending.predictions) | set(pending.labels):
            joined = self.store.join_labels(model, now, conn=conn)
            outcome.joined[model] += sum(joined.values())
            outcome.touched.setdefault(model, set()).update(joined)

    def _close_due(self, runtime: ModelRuntime, pending: Pending, outcome: Outcome, now: float, conn: Any) -> None:
        name = runtime.config.name
        windows = runtime.windows
        if isinstance(windows, CountWindows):
            for closed in [c for c in pending.closed if c.model == name]:
                outcome.results.append(self._judge(closed, now, conn, outcome))
                self.store.delete_window_state(name, COUNT_SHARD, closed.key, conn=conn)
            return
        if not isinstance(windows, TimeWindows):
            return
        shards = self.store.load_shard_states(name, conn=conn)
        idle_s = windows.idle_close_s
        backlog = self._backlog(conn)
        holding = [s for s in shards if _holds(s, backlog, idle_s, now)]
        unread = backlog - {s.shard for s in shards}  # partitions nobody has read yet: nothing can close
        mark = (min(s.max_event_time for s in holding) - windows.lateness_s) if holding and not unread \
            else float("-inf")
        quiet = bool(shards) and not holding and not unread
        starts = sorted(set(self.store.window_state_starts(name, conn=conn)) | set(windows.open))
        closed_until = windows.closed_until
        for start in starts:
            end = start + windows.size_s
            if end <= closed_until or not (quiet or end <= mark):
                continue
            summary = self._merged(runtime, start, conn)
            if summary is None:
                continue
            if log.isEnabledFor(logging.DEBUG):
                log.debug("closing model=%s start=%s mark=%s quiet=%s shards=%s backlog=%s", name, start, mark,
                          quiet, [(s.shard, s.max_event_time, round(now - s.last_seen, 1), round(now - s.updated_at, 1))
                                  for s in shards], sorted(backlog))
            window = windows.open.get(start)
            version = window.model_version if window is not None else None
            closed = ClosedWindow(name, start, end, summary, version, "idle" if quiet else "watermark", start)
            if not self.store.window_exists(name, start, end, conn=conn):
                outcome.results.append(self._judge(closed, now, conn, outcome))
            self.store.delete_window_states(name, start, conn=conn)
            closed_until = max(closed_until, end)
        if closed_until > windows.closed_until:
            self.store.save_model_state(name, closed_until, 0, now, conn=conn)

    def _backlog(self, conn: Any) -> set[str]:
        """Shards ("topic:partition") whose stored offset is behind their log end."""
        if not self._log_ends:
            return set()
        stored = self.store.load_offsets(self.group_id, list(self._log_ends), conn=conn)
        return {f"{t}:{p}" for (t, p), end in self._log_ends.items() if stored.get((t, p), 0) < end}

    def _merged(self, runtime: ModelRuntime, start: float, conn: Any) -> WindowSummary | None:
        """The stored partial states of a window merged, in shard order, read and merged one shard at a time:
        a window's parts can each hold a full reservoir, so only the merge so far and one part are in memory."""
        assert runtime.profile is not None
        name, layout = runtime.config.name, runtime.profile.layout

        def parts() -> Iterator[WindowSummary]:
            for shard in self.store.window_state_shards(name, start, conn=conn):
                states = self.store.load_window_states(name, shard=shard, start=start, conn=conn)
                while states:  # nothing here keeps a part (or its payload) once it is merged
                    yield WindowSummary.from_parts(layout, states[0].payload, states.pop(0).deltas)

        return WindowSummary.merge_all(parts())

    def _judge(self, closed: ClosedWindow, now: float, conn: Any, outcome: Outcome) -> WindowResult:
        runtime = self.pipeline.models[closed.model]
        model = runtime.config
        predictions, labels = self.store.window_label_pairs(closed.model, closed.key, conn=conn)
        performance = performance_metrics(model, predictions, labels) if labels else {}
        result = judge_closed(closed, runtime, closed_at=now, performance=performance, labels=len(labels))
        self.store.save_window(result, conn=conn)
        outcome.alerts.extend(self.outbox.raise_alerts(model, result, ("drift", "performance"), now, conn))
        return result

    def _refresh_performance(self, outcome: Outcome, now: float, conn: Any) -> None:
        judged_now = {(r.model, r.start) for r in outcome.results}
        for model, keys in outcome.touched.items():
            spec = self.pipeline.models[model].config
            recent = self.store.list_windows(model, limit=_RECENT_WINDOWS, conn=conn)[::-1]  # oldest first
            refreshed = []
            for i, window in enumerate(recent):
                if (window.start in keys and (model, window.start) not in judged_now
                        and now <= (window.closed_at or window.end) + spec.performance.label_ttl_s):
                    predictions, labels = self.store.window_label_pairs(model, window.start, conn=conn)
                    metrics = performance_metrics(spec, predictions, labels)
                    recent[i] = updated = dataclasses.replace(window, performance=metrics, labels=len(labels))
                    self.store.save_window(updated, conn=conn)
                    outcome.refreshed.append(updated)
                    outcome.alerts.extend(self.outbox.raise_alerts(spec, updated, ("performance",), now, conn))
                    refreshed.append(i)
            # labels of an earlier window may complete a run of consecutive windows that ends later
            need = spec.alerts.consecutive_windows - 1
            later = sorted({j for i in refreshed for j in range(i + 1, min(len(recent), i + 1 + need))} - set(refreshed))
            for j in later:
                outcome.alerts.extend(self.outbox.raise_alerts(spec, recent[j], ("performance",), now, conn))

    def _expire(self, outcome: Outcome, now: float, conn: Any) -> None:
        ttl = max(m.performance.label_ttl_s for m in self.config.models)
        outcome.expired.update(self.store.expire_pending(now - ttl, conn=conn))
        outcome.expired.update(self.store.bound_pending(self.config.limits.max_pending_labels, conn=conn))

    def _after_commit(self, pending: Pending, outcome: Outcome) -> None:
        for key, offset in outcome.offsets.items():
            self.stored[key] = offset
        for result in outcome.results:
            windows = self.pipeline.models[result.model].windows
            if isinstance(windows, TimeWindows):
                windows.close(result.start, "checkpoint")
        for runtime in self.pipeline.models.values():
            windows = runtime.windows
            if isinstance(windows, TimeWindows):
                for start in [s for s in windows.open if s + windows.size_s <= windows.closed_until]:
                    del windows.open[start]
