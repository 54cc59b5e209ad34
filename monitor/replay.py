"""``driftd replay``: logged events through the daemon's own decode -> window -> judge path, without Kafka.

The input is JSON lines of docs/input.md messages: predictions, feature logs and labels mixed. Event
time is the replay's clock (the largest timestamp read so far), so lateness, idle close and label
expiry behave as they did live. At the end of the input every open window closes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Hashable, Iterator

from monitor.alerts.outbox import Outbox
from monitor.alerts.rules import KINDS, Alert
from monitor.config import Config
from monitor.ingest.decode import MIXED, Decoder
from monitor.judge.results import WindowResult
from monitor.judge.verdict import judge_closed, performance_metrics
from monitor.store import profiles as profile_source
from monitor.store import Store
from monitor.windows.labels import Joined, LabelJoin
from monitor.windows.pipeline import Fed, Pipeline
from monitor.windows.tumbling import ClosedWindow

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


@dataclass
class ReplayOutcome:
    """What a replay produced."""

    results: list[WindowResult]
    lines: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    alerts: list[Alert] = field(default_factory=list)
    """Alerts written to the store's outbox (none in a dry run); a running daemon delivers them."""


class Progress:
    """A one-line progress bar on a terminal (bytes read of the input), at most a few redraws a second."""

    def __init__(self, total_bytes: int, stream: IO[str] | None = None, every_s: float = 0.25) -> None:
        self.total = max(1, total_bytes)
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.started = self.last = time.monotonic()

    def update(self, done_bytes: int, events: int) -> None:
        """Redraw if enough time has passed."""
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        share = min(1.0, done_bytes / self.total)
        bar = "#" * int(share * 30)
        rate = events / max(now - self.started, 1e-9)
        self.stream.write(f"\rreplay [{bar:<30}] {share:6.1%}  {events:,} events  {rate:,.0f} events/s")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


def chunks(stream: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[tuple[list[bytes], int]]:
    """Batches of non-empty lines (line ends stripped), with the bytes read so far.

    >>> import io
    >>> list(chunks(io.BytesIO(b'{"a": 1}\\r\\n\\n{"b": 2}'), size=4))
    [([b'{"a": 1}'], 11), ([b'{"b": 2}'], 19)]
    """
    done = 0
    tail = b""
    while True:
        block = stream.read(size)
        if not block:
            break
        done += len(block)
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        if b"\r" in block:
            lines = [line.rstrip(b"\r") for line in lines]
        batch = list(filter(None, lines))
        if batch:
            yield batch, done - len(tail)
    tail = tail.rstrip(b"\r")
    if tail:
        yield [tail], done


def replay(config: Config, path: Path, store: Store | None, *, progress: bool | None = None,
           clock: Callable[[], float] = time.time) -> ReplayOutcome:
    """Replay a JSONL file; store what it judged unless ``store`` is None (dry run)."""
    started = time.perf_counter()
    profiles = profile_source.resolve(config, store, clock(),
                                      on_built=lambda m: log.info("building reference profile model=%s", m))

    def on_profile(model: str, profile: object) -> int | None:
        if store is None:
            return None
        spec = config.model(model)
        from detectors.profile import ReferenceProfile
        assert isinstance(profile, ReferenceProfile)
        return profile_source.store_profile(store, spec, profile, "live events", {"events": spec.reference.events},
                                            clock()).version

    pipeline = Pipeline(config, profiles, on_profile=on_profile)
    pairs = JoinedPairs(config)
    decoder = _decoder(config, pipeline)
    outcome = ReplayOutcome(results=[])
    judged: list[tuple[Hashable, WindowResult]] = []
    now = float("-inf")
    size = os.path.getsize(path)
    bar = Progress(size) if (progress if progress is not None else (sys.stderr.isatty() and size > 8 << 20)) else None
    with open(path, "rb") as stream:
        for lines, done in chunks(stream):
            decoded = decoder.decode(lines)
            outcome.lines += len(lines)
            outcome.rejected.update(decoded.rejected_by_reason())
            records = decoded.records
            outcome.accepted += len(records)
            if len(records):
                now = max(now, float(records.timestamp.max()))
            names_before = pipeline.feature_names()
            fed = pipeline.feed(records, shard="replay", now=now)
            pairs.add(fed, now)
            _judge(pipeline, fed.closed + pipeline.tick(now), judged)
            if pipeline.feature_names() != names_before:  # a reference was built: decode its features typed
                decoder = _decoder(config, pipeline)
            if bar:
                bar.update(done, outcome.lines)
    if bar:
        bar.close()
    _judge(pipeline, pipeline.flush(), judged)
    outcome.results = [pairs.performance(result, key) for key, result in judged]
    outcome.late = Counter(pipeline.late)
    if store is not None:
        outbox = Outbox(store)
        specs = {m.name: m for m in config.models}
        with store.transaction() as conn:
            for result in outcome.results:
                store.save_window(result, conn=conn)
                outcome.alerts.extend(outbox.raise_alerts(specs[result.model], result, KINDS, time.time(), conn))
    outcome.seconds = time.perf_counter() - started
    log.info("replay done lines=%d accepted=%d rejected=%d late=%d windows=%d seconds=%.2f", outcome.lines,
             outcome.accepted, sum(outcome.rejected.values()), sum(outcome.late.values()), len(outcome.results),
             outcome.seconds)
    return outcome


class JoinedPairs:
    """Labels joined to predictions in memory, per model and window, for the windows' performance."""

    def __init__(self, config: Config) -> None:
        self.models = {m.name: m for m in config.models}
        ttl = max((m.performance.label_ttl_s for m in config.models), default=7 * 86400.0)
        self.join = LabelJoin(ttl, config.limits.max_pending_labels)
        self.pairs: dict[tuple[str, Hashable], tuple[list[Any], list[Any]]] = {}

    def add(self, fed: Fed, now: float) -> None:
        """Join what one batch brought; entries waiting longer than the TTL (event time) expire."""
        for model, (pids, labels) in fed.labels.items():
            self._keep(self.join.add_labels(model, pids, labels, now))
        for model, (pids, keys, predictions) in fed.predictions.items():
            self._keep(self.join.add_predictions(model, pids, keys, predictions, now))
        self.join.expire(now)

    def _keep(self, joined: list[Joined]) -> None:
        for pair in joined:
            predictions, labels = self.pairs.setdefault((pair.model, pair.window), ([], []))
            predictions.append(pair.prediction)
            labels.append(pair.label)

    def performance(self, result: WindowResult, key: Hashable) -> WindowResult:
        """The window's result with the performance of its joined pairs."""
        found = self.pairs.get((result.model, key))
        if not found:
            return result
        predictions, labels = found
        metrics = performance_metrics(self.models[result.model], predictions, labels)
        return dataclasses.replace(result, performance=metrics, labels=len(labels))


def _judge(pipeline: Pipeline, closed: list[ClosedWindow], into: list[tuple[Hashable, WindowResult]]) -> None:
    for window in closed:
        into.append((window.key, judge_closed(window, pipeline.models[window.model])))


def _decoder(config: Config, pipeline: Pipeline) -> Decoder:
    fields = config.kafka.fields if config.kafka is not None else None
    mapping = dict(fields.predictions) if fields is not None else {}
    label_field = fields.labels.get("label", "label") if fields is not None else "label"
    return Decoder(MIXED, mapping, pipeline.feature_names(), config.limits.max_message_bytes, label_field=label_field,
                   kinds=pipeline.feature_kinds(), max_value_length=config.limits.max_value_length)
