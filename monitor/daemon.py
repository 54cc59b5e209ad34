"""``driftd run``: the long-running service — Kafka in, windows judged and stored, Prometheus out.

Wiring and the main loop live here; the checkpoint transaction is :mod:`monitor.checkpoint`.
Everything that touches the Kafka consumer runs on the loop's thread (kafka-python's consumer is
not thread-safe): the scheduler's jobs only queue work for the loop.
"""

from __future__ import annotations

import bisect
import faulthandler
import logging
import os
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from prometheus_client import CollectorRegistry

from detectors.summary import WindowSummary
from monitor.alerts.dispatcher import Dispatcher
from monitor.checkpoint import COUNT_SHARD, Checkpointer, Outcome, Pending
from monitor.config import Config, KafkaConfig
from monitor.errors import ConfigError, DriftdError, StaleOwnerError, StoreError
from monitor.export.http import HttpServer
from monitor.export.metrics import Metrics
from monitor.ingest import malloc
from monitor.ingest.decode import FEATURES, LABELS, PREDICTIONS, Decoded, Decoder
from monitor.ingest.decode_worker import Decoding
from monitor.ingest.kafka_python import DeadLetters, KafkaSource
from monitor.ingest.source import PartitionBatch
from monitor.judge.results import WindowResult
from monitor.store import profiles as profile_source
from monitor.store import Store
from monitor.windows.pipeline import Pipeline
from monitor.windows.tumbling import CountWindows, TimeWindows

log = logging.getLogger(__name__)

_RESTORED_WINDOWS = 50
"""How many of a model's newest windows are read back on start to re-export its gauges."""
_POISON_DETAIL = 500
"""Characters of an exception's text kept with a message rejected as internal_error."""
_WITH_ERROR = ("internal_error", "unreadable_batch")
"""Rejections whose dead letter carries the error text (header driftd-error)."""
_FAIL_ON = "DRIFTD_TEST_FAIL_ON_PREDICTION_ID"
"""Tests only: processing a batch holding one of these (comma-separated) prediction ids raises, after the
batch was fed, so that its effects must be rolled back (tests/daemon/test_faults.py)."""


@dataclass(frozen=True)
class Timing:
    """How often the daemon does its periodic work (seconds)."""

    checkpoint_rows: int = 100_000
    """Label-join rows waiting in memory that force a checkpoint (window state does not grow with events)."""
    closable_gap_s: float = 1.0
    """A time window that this daemon's own partitions have passed forces a checkpoint (where windows close)
    once this long after the previous one, instead of waiting for the next interval: a window waiting to
    close keeps its whole summary in memory, so waiting for the interval would hold every window that
    filled meanwhile (memory that grows with the event rate). The gap bounds how often that can happen."""
    lag_s: float = 10.0
    poll_ms: int = 200
    stalled_s: float = 120.0


def _kafka_client(client: str) -> tuple[Any, Any]:
    """The source and dead-letter classes of ``kafka.client`` (confluent-kafka is imported only when chosen)."""
    if client == "confluent":
        from monitor.ingest.confluent import ConfluentDeadLetters, ConfluentSource
        return ConfluentSource, ConfluentDeadLetters
    return KafkaSource, DeadLetters


_release_free_memory = malloc.malloc_trim()
"""Hand freed heap pages back to the OS after a checkpoint: the batches' and the checkpoint's
transient buffers are freed, but glibc would keep them in the process's RSS."""


class _RateLimitedLog:
    """Logs a problem once per key per interval, counting what it did not log."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.last: dict[str, float] = {}
        self.skipped: Counter[str] = Counter()

    def warning(self, key: str, message: str, *args: object) -> None:
        now = self.clock()
        if now - self.last.get(key, float("-inf")) < self.interval_s:
            self.skipped[key] += 1
            return
        self.last[key] = now
        skipped = self.skipped.pop(key, 0)
        log.warning(message + (f" (+{skipped} more since the last report)" if skipped else ""), *args)


class Isolation:
    """What the daemon keeps, across roll-backs to the store, about batches whose processing raised.

    A batch that raised is rolled back to the last checkpoint and read again; its offsets are a
    *suspect* range, fed in halves (:meth:`Daemon._bisect`). The message that raises alone is
    *poisoned*: read again, it is rejected as ``internal_error``. ``counted`` is, per partition, the
    offset after the last message whose metrics and dead letter were emitted, so reading again
    counts nothing twice.
    """

    def __init__(self) -> None:
        self.suspects: dict[tuple[str, int], tuple[int, int]] = {}
        self.poisoned: dict[tuple[str, int], dict[int, str]] = {}
        self.counted: dict[tuple[str, int], int] = {}

    def poison(self, key: tuple[str, int], offset: int, text: str) -> None:
        """Reject the message at ``offset`` of partition ``key`` as internal_error from now on."""
        self.poisoned.setdefault(key, {})[offset] = text

    def poisoned_in(self, key: tuple[str, int], first: int, end: int) -> list[tuple[int, str]]:
        """The poisoned messages of partition ``key`` with offsets in [first, end)."""
        known = self.poisoned.get(key)
        return [(o, t) for o, t in known.items() if first <= o < end] if known else []

    def stored(self, key: tuple[str, int], offset: int | None) -> None:
        """Partition ``key`` is checkpointed up to ``offset``: what lies before it is never read again."""
        known = self.poisoned.get(key)
        if known and offset is not None:
            for o in [o for o in known if o < offset]:
                del known[o]

    def forget(self, key: tuple[str, int]) -> None:
        """The partition went to another daemon."""
        for table in (self.suspects, self.poisoned, self.counted):
            table.pop(key, None)


class Daemon:
    """One driftd process: consumes its partitions, checkpoints them, serves /metrics.

    Parameters
    ----------
    config
        A validated config with a ``kafka`` section.
    registry
        Where the metrics live (a fresh registry by default).
    clock
        Wall time (tests pass their own).
    """

    def __init__(self, config: Config, *, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time, timing: Timing = Timing()) -> None:
        if config.kafka is None:
            raise ConfigError(config.source, [("kafka", "`driftd run` needs a kafka section (bootstrap_servers, topics)")])
        self.config = config
        self.kafka: KafkaConfig = config.kafka
        self.clock = clock
        self.timing = timing
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry, max_series=config.limits.max_metric_series)
        self.stopping = threading.Event()
        self.tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.store: Store | None = None
        self.source: KafkaSource | None = None
        self.dead_letters: DeadLetters | None = None
        self.http: HttpServer | None = None
        self.pipeline: Pipeline | None = None
        self.checkpointer: Checkpointer | None = None
        self.pending = Pending()
        self.decoders: dict[str, Decoder] = {}
        self.decoding: Decoding[PartitionBatch] | None = None
        """Polled batches being decoded, not fed yet, oldest first."""
        self.topic_kinds: dict[str, str] = {}
        self.last_loop = time.monotonic()
        self.last_checkpoint = time.monotonic()
        self.problems = _RateLimitedLog()
        self.checkpoint_requested = False
        self.closable_asked: dict[str, float] = {}
        """Per model, the start of the newest window that already forced a checkpoint (see Timing.closable_gap_s)."""
        self.scheduler: Any = None
        self.log_ends: dict[tuple[str, int], int] = {}
        self.dispatcher: Dispatcher | None = None
        self.isolation = Isolation()
        self._fail_on = frozenset(filter(None, os.environ.get(_FAIL_ON, "").split(",")))

    # --- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        """Open the store, build or load the references, serve HTTP, join the consumer group."""
        malloc.fix_mmap_threshold()  # large blocks (reservoirs, blobs) freed go back to the OS (monitor.ingest.malloc)
        self.store = Store.open(self.config.storage.url)
        profiles = profile_source.resolve(self.config, self.store, self.clock(),
                                          build=profile_source.build_in_child)
        self.pipeline = Pipeline(self.config, profiles, on_profile=self._store_live_profile)
        self.checkpointer = Checkpointer(self.config, self.store, self.pipeline, self.kafka.group_id)
        self._restore_count_windows()
        self._restore_metrics()
        self._build_decoders()
        self.decoding = Decoding[PartitionBatch](self.decoders, process=self.kafka.decode_workers > 0)
        self.metrics.preset(topics=self.topic_kinds, models=[m.name for m in self.config.models],
                            webhooks=self.config.webhooks)
        self._start_dispatcher()
        self.http = HttpServer(self.config.server.host, self.config.server.port, self.registry,
                               healthy=self.healthy, ready=self.ready, web=self.config.server.web_config)
        self.http.start()
        source_class, dead_letters_class = _kafka_client(self.kafka.client)
        if self.kafka.dead_letter_topic:
            self.dead_letters = dead_letters_class(self.kafka)
        self.source = source_class(self.kafka, list(self.topic_kinds), on_assign=self._on_assign,
                                   on_revoke=self._on_revoke)
        self._schedule()
        log.info("driftd started group=%s topics=%s metrics=%s:%d", self.kafka.group_id, ",".join(self.topic_kinds),
                 self.config.server.host, self.http.port)

    def _start_dispatcher(self) -> None:
        """Deliver the outbox from a thread of its own, with its own connections to the store."""
        def pending(counts: Mapping[str, int]) -> None:
            for webhook, n in counts.items():
                self.metrics.webhook_pending(webhook, n)

        self.dispatcher = Dispatcher(Store.open(self.config.storage.url, migrate=False), self.config.webhooks,
                                     on_attempt=self.metrics.delivery, on_pending=pending).start()

    def _schedule(self) -> None:
        """Periodic work through APScheduler; jobs only queue tasks for the loop's thread."""
        from apscheduler.schedulers.background import BackgroundScheduler

        self.scheduler = BackgroundScheduler(daemon=True)
        self.scheduler.add_job(lambda: self.tasks.put(self.request_checkpoint), "interval",
                               seconds=self.config.storage.checkpoint_interval_s, id="checkpoint", max_instances=1, coalesce=True)
        self.scheduler.add_job(lambda: self.tasks.put(self.sample_lag), "interval", seconds=self.timing.lag_s,
                               id="consumer-lag", max_instances=1, coalesce=True)
        self.scheduler.start()

    def stop(self) -> None:
        """Ask the loop to finish its batch, checkpoint and return (safe from a signal handler)."""
        self.stopping.set()

    def close(self) -> None:
        """Release everything (after :meth:`run` returned)."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher.store.close()
        if self.decoding is not None:
            self.decoding.close()
        for closer in (self.source, self.dead_letters, self.http, self.store):
            if closer is not None:
                try:
                    closer.close() if not isinstance(closer, HttpServer) else closer.stop()
                except Exception:  # noqa: BLE001 - closing must go on; the cause is logged
                    log.exception("error while closing %s", type(closer).__name__)

    def run(self) -> int:
        """The main loop until :meth:`stop`; returns the process exit code."""
        assert self.source is not None and self.decoding is not None
        while not self.stopping.is_set():
            # while earlier batches are being decoded, only pick up what has already arrived
            batches = self.source.poll(min(self.timing.poll_ms, 5) if len(self.decoding) else self.timing.poll_ms)
            started = time.perf_counter()
            self._submit(batches)
            self._feed_decoded(keep=len(batches))  # the batches just polled decode while these are windowed
            if batches:
                self.metrics.observe_batch(time.perf_counter() - started)
            self._run_tasks()
            if self._checkpoint_due():
                self._feed_decoded()
                self._read_log_ends()
                self.checkpoint()
            self.last_loop = time.monotonic()
        self._feed_decoded()
        self.checkpoint()
        log.info("driftd stopped after a final checkpoint")
        return 0

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT drain: finish the batch, checkpoint, exit 0. SIGUSR1 prints every thread's stack."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # where a stuck daemon is stuck, without a debugger

    # --- health -----------------------------------------------------------------------------

    def healthy(self) -> bool:
        """The loop made progress recently."""
        return time.monotonic() - self.last_loop < self.timing.stalled_s

    def ready(self) -> bool:
        """The store answers and partitions are assigned."""
        return (self.store is not None and self.source is not None and bool(self.source.assignment())
                and self.store.ping())

    # --- the work ---------------------------------------------------------------------------

    def _submit(self, batches: list[PartitionBatch]) -> None:
        assert self.decoding is not None
        for batch in batches:
            self.decoding.submit(self.topic_kinds[batch.topic], batch.values, batch)

    def _feed_decoded(self, keep: int = 0) -> None:
        """Feed the decoded batches in poll order, all but the newest ``keep``."""
        assert self.decoding is not None
        while len(self.decoding) > keep:
            self._process(*self.decoding.next())

    def _process(self, batch: PartitionBatch, decoded: Decoded) -> None:
        """Feed one decoded batch; a batch whose processing raises is isolated, never retried as a whole."""
        key = (batch.topic, batch.partition)
        for offset, text in self.isolation.poisoned_in(key, batch.offsets[0], batch.next_offset):
            decoded = decoded.reject(batch.offsets.index(offset), "internal_error", text)
        for index, unreadable in batch.unreadable.items():
            decoded = decoded.reject(index, "unreadable_batch", f"offsets {unreadable.first_offset}-"
                                     f"{unreadable.next_offset - 1}: {unreadable.detail}")
        suspect = self.isolation.suspects.get(key)
        if suspect is not None and batch.offsets[0] < suspect[1] and batch.next_offset > suspect[0]:
            self._bisect(batch, decoded)
        else:
            self._guarded(batch, decoded)

    def _bisect(self, batch: PartitionBatch, decoded: Decoded) -> None:
        """Feed a batch that overlaps its partition's suspect range, halving the range until one message is left.

        Each half is fed after a checkpoint of everything before it, so a half that raises is rolled back
        alone and becomes the new range; a half that does not is kept. The one message left that raises is
        rejected as ``internal_error`` when read again; the others count once, as they would have.
        """
        key, start = (batch.topic, batch.partition), 0
        while start < len(batch.offsets):
            suspect = self.isolation.suspects.get(key)
            if suspect is None or batch.offsets[start] >= suspect[1]:
                self.isolation.suspects.pop(key, None)  # past it (compaction can leave a range empty)
                self._guarded(batch.part(start, len(batch.offsets)), decoded.part(start, len(batch.offsets)))
                return
            lo, hi = suspect
            first = max(start, bisect.bisect_left(batch.offsets, lo))
            if first > start:  # before the range: fed as usual
                if not self._guarded(batch.part(start, first), decoded.part(start, first)):
                    return
                start = first
                continue
            stop = min(bisect.bisect_left(batch.offsets, (lo + hi + 1) // 2 if hi - lo > 1 else hi), len(batch.offsets))
            stop = max(stop, start + 1)
            if self.checkpoint() is None:
                return  # refused and rolled back to the store: the partition is read again from there
            single = hi - lo == 1
            if not self._guarded(batch.part(start, stop), decoded.part(start, stop), single=single):
                return
            end = batch.offsets[stop - 1] + 1
            if single or end >= hi:
                self.isolation.suspects.pop(key, None)
            else:
                self.isolation.suspects[key] = (end, hi)
            start = stop

    def _guarded(self, batch: PartitionBatch, decoded: Decoded, single: bool = False) -> bool:
        """Feed a batch; False when it raised, was rolled back and is to be read again, isolated.

        Failures of the store or the broker (DriftdError) are not the data's fault: they go up as before.
        """
        try:
            self._feed(batch, decoded)
            return True
        except DriftdError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else is a bug this batch triggers: isolate it
            key, text = (batch.topic, batch.partition), f"{type(exc).__name__}: {exc}"[:_POISON_DETAIL]
            if single:
                log.error("processing raised on one message, rejected as internal_error topic=%s partition=%d "
                          "offset=%d: %s", batch.topic, batch.partition, batch.offsets[0], text, exc_info=exc)
                self.isolation.poison(key, batch.offsets[0], text)
            else:
                log.error("processing raised topic=%s partition=%d offsets=%d-%d: %s; rolling back to the last "
                          "checkpoint and reading these messages again in halves", batch.topic, batch.partition,
                          batch.offsets[0], batch.offsets[-1], text, exc_info=exc)
                self.isolation.suspects[key] = (batch.offsets[0], batch.offsets[-1] + 1)
            self._resync()
            return False

    def _feed(self, batch: PartitionBatch, decoded: Decoded) -> None:
        assert self.pipeline is not None
        kind = self.topic_kinds[batch.topic]
        shard, now = f"{batch.topic}:{batch.partition}", self.clock()
        decoded = decoded.reject_future(self.latest_event_times(now))
        names_before = self.pipeline.feature_names()
        fed = self.pipeline.feed(decoded.records, shard=shard, now=now)
        if self._fail_on and not self._fail_on.isdisjoint(decoded.records.prediction_id):
            raise RuntimeError(f"injected failure on a prediction_id of {sorted(self._fail_on)}")
        if kind != LABELS and len(decoded.records):
            newest = float(decoded.records.timestamp.max())
            for runtime in self.pipeline.models.values():
                if isinstance(runtime.windows, TimeWindows):
                    runtime.windows.observe_shard(shard, newest, now)
        self.pending.add(fed, batch.topic, batch.partition, batch.next_offset, len(batch.values),
                         join_labels=self.kafka.topics.labels is not None)
        self._count(batch, decoded, fed.late)
        if self.pipeline.feature_names() != names_before:
            self._build_decoders()

    def _count(self, batch: PartitionBatch, decoded: Decoded, late: Mapping[str, int]) -> None:
        """Metrics, warnings and dead letters of a fed batch; once per message, even when it is read again."""
        key = (batch.topic, batch.partition)
        fresh = bisect.bisect_left(batch.offsets, self.isolation.counted.get(key, -1))
        if fresh == len(batch.offsets):
            return
        self.isolation.counted[key] = batch.next_offset
        rejections = [r for r in decoded.rejections if r.index >= fresh]
        self.metrics.consumed(batch.topic, len(batch.values) - fresh)
        for reason, count in Counter(r.reason for r in rejections).items():
            self.metrics.rejected(batch.topic, reason, count)
            self.problems.warning(f"{batch.topic}:{reason}", "rejected %d message(s) topic=%s partition=%d reason=%s",
                                  count, batch.topic, batch.partition, reason)
        if self.dead_letters is not None:
            for rejection in rejections:
                skipped = batch.unreadable.get(rejection.index)
                self.dead_letters.send(batch.values[rejection.index] if skipped is None else skipped.raw,
                                       reason=rejection.reason, topic=batch.topic, partition=batch.partition,
                                       offset=batch.offsets[rejection.index] if skipped is None else skipped.first_offset,
                                       error=rejection.detail if rejection.reason in _WITH_ERROR else None)
        for model, n in late.items():
            self.metrics.late(model, n)

    def latest_event_times(self, now: float) -> dict[str, float]:
        """Per model with time windows, the latest event time accepted at wall-clock ``now``."""
        return {model.name: now + model.window.max_future_s for model in self.config.models
                if model.window.size_s is not None}

    def _checkpoint_due(self) -> bool:
        return self.checkpoint_requested or self.pending.rows >= self.timing.checkpoint_rows or bool(
            self.pending.closed) or self._closable()

    def _closable(self) -> bool:
        """Whether an open time window has been passed by this daemon's partitions and not yet asked to close.

        Each such window forces one checkpoint (at most one per ``closable_gap_s``); if other daemons'
        partitions still hold it open, it waits for the regular interval like any other.
        """
        if self.pipeline is None or time.monotonic() - self.last_checkpoint < self.timing.closable_gap_s:
            return False
        due = False
        now = self.clock()
        for name, runtime in self.pipeline.models.items():
            windows = runtime.windows
            if not isinstance(windows, TimeWindows):
                continue
            asked = self.closable_asked.get(name, float("-inf"))
            passed = [start for start in windows.passed(now) if start > asked]
            if passed:
                self.closable_asked[name] = max(passed)
                due = True
        return due

    def _read_log_ends(self) -> None:
        """Refresh every window partition's log end (on the loop's thread: it is a blocking broker call)."""
        assert self.source is not None
        topics = [t for t, kind in self.topic_kinds.items() if kind != LABELS]
        try:
            self.log_ends = self.source.log_ends(topics)
        except DriftdError as exc:  # keep the last known ends; closing only waits longer for them
            self.problems.warning("log-ends", "reading log end offsets failed: %s", exc)

    def request_checkpoint(self) -> None:
        """Checkpoint at the end of the current loop turn (the scheduler calls this every checkpoint_s)."""
        self.checkpoint_requested = True

    def checkpoint(self) -> Outcome | None:
        """Write a checkpoint now; on a stale-owner conflict, drop in-memory state and reload it."""
        assert self.checkpointer is not None
        self.checkpoint_requested = False
        try:
            outcome = self.checkpointer.commit(self.pending, self.clock(), self.log_ends)
        except StaleOwnerError as exc:
            log.warning("checkpoint refused, another daemon owns a partition now: %s; reloading from the store", exc)
            self._resync()
            return None
        except StoreError as exc:  # e.g. a deadlock between daemons on PostgreSQL: nothing was written
            log.warning("checkpoint failed and was rolled back: %s; reloading from the store", exc)
            self._resync()
            return None
        self.pending = Pending()
        self.last_checkpoint = time.monotonic()
        for key, offset in self.checkpointer.stored.items():
            self.isolation.stored(key, offset)
        self._export(outcome)
        _release_free_memory()
        if self.source is not None and outcome.offsets:
            self.source.commit(outcome.offsets)
        return outcome

    def _export(self, outcome: Outcome) -> None:
        for result in outcome.results:
            self.metrics.window_closed(result.model)
            self._observe(result)
            log.info("window judged model=%s start=%s end=%s events=%d drifted=%s share=%s", result.model,
                     result.start, result.end, result.events, result.drifted, result.drift_share)
        for result in outcome.refreshed:
            self._observe(result)
        for model, n in outcome.late.items():
            self.metrics.late(model, n)
        for model, n in outcome.joined.items():
            self.metrics.labels_joined(model, n)
        for model, n in outcome.expired.items():
            self.metrics.labels_expired(model, n)
        for alert in outcome.alerts:
            self.metrics.alert(alert.model, alert.kind)
        if outcome.alerts and self.dispatcher is not None:
            self.dispatcher.wake()

    def _observe(self, result: WindowResult) -> None:
        self.metrics.observe_window(result)
        model = self.config.model(result.model)
        self.metrics.observe_performance(result.model, result.end, result.performance, result.labels,
                                         model.performance.min_labels)

    def _run_tasks(self) -> None:
        while True:
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                return
            task()

    # --- partitions -------------------------------------------------------------------------

    def _on_assign(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        """Restore the partitions' window state and return their stored offsets (where to seek)."""
        assert self.store is not None and self.checkpointer is not None and self.pipeline is not None
        stored = self.store.load_offsets(self.kafka.group_id, partitions)
        for key in partitions:
            self.checkpointer.stored[key] = stored.get(key)
            self._restore_shard(f"{key[0]}:{key[1]}")
        log.info("partitions assigned %s", ", ".join(f"{t}:{p}@{stored.get((t, p))}" for t, p in partitions))
        return {key: stored.get(key) for key in partitions}

    def _on_revoke(self, partitions: list[tuple[str, int]]) -> None:
        """Checkpoint what was fed from the partitions, then forget their state."""
        assert self.pipeline is not None and self.checkpointer is not None
        self._feed_decoded()  # what was polled from them before the revocation is theirs: checkpoint it
        self.checkpoint()
        for topic, partition in partitions:
            shard = f"{topic}:{partition}"
            for runtime in self.pipeline.models.values():
                if isinstance(runtime.windows, TimeWindows):
                    runtime.windows.forget(shard)
            self.checkpointer.stored.pop((topic, partition), None)
            self.isolation.forget((topic, partition))
            self.metrics.remove_consumer_lag(topic, partition)
        log.info("partitions revoked %s", ", ".join(f"{t}:{p}" for t, p in partitions))

    def _restore_shard(self, shard: str) -> None:
        """Load a newly assigned partition's partial windows and watermark, and mark it active now.

        A partition holds the model's watermark back from the moment it is assigned, with the
        largest event time it had (or none yet), until it has been quiet for ``idle_close``: so a
        backlog being read after a restart or a rebalance is never overtaken by other partitions.
        """
        assert self.store is not None and self.pipeline is not None
        topic = shard.rsplit(":", 1)[0]
        if self.topic_kinds.get(topic) == LABELS:
            return
        now = self.clock()
        states = {s.model: s for s in self.store.load_shard_states() if s.shard == shard}
        for name, runtime in self.pipeline.models.items():
            if isinstance(runtime.windows, TimeWindows):
                state = states.get(name)
                max_event_time = state.max_event_time if state is not None else float("-inf")
                self.store.save_shard_state(name, shard, max_event_time, now, now)
                runtime.windows.restore_shard(shard, max_event_time, now)
        for record in self.store.load_window_states(shard=shard):
            runtime = self.pipeline.models.get(record.model)
            if runtime is None or runtime.profile is None or not isinstance(runtime.windows, TimeWindows):
                continue
            state = states.get(record.model)
            summary = WindowSummary.from_parts(runtime.profile.layout, record.payload, record.deltas)
            runtime.windows.restore(shard, record.window_start, summary,
                                    state.max_event_time if state else None, state.last_seen if state else None)

    def _restore_count_windows(self) -> None:
        assert self.store is not None and self.pipeline is not None
        for name, runtime in self.pipeline.models.items():
            windows = runtime.windows
            if not isinstance(windows, CountWindows) or runtime.profile is None:
                continue
            state = self.store.get_model_state(name)
            if state is not None:
                windows.sequence = state.sequence
            for record in self.store.load_window_states(name, shard=COUNT_SHARD):
                windows.resume(record.window_start, WindowSummary.from_parts(runtime.profile.layout, record.payload,
                                                                               record.deltas))

    def _resync(self) -> None:
        """After a refused checkpoint: forget everything since the last one and start again from the store."""
        assert self.source is not None and self.store is not None
        if self.decoding is not None:  # batches polled since the checkpoint are read again after the seek
            self.decoding.discard()
        profiles = profile_source.resolve(self.config, self.store, self.clock(),
                                          build=profile_source.build_in_child)
        self.pipeline = Pipeline(self.config, profiles, on_profile=self._store_live_profile)
        self.checkpointer = Checkpointer(self.config, self.store, self.pipeline, self.kafka.group_id)
        self.pending = Pending()
        self._restore_count_windows()
        positions = self._on_assign(self.source.assignment())
        self.source.seek(positions)

    # --- helpers ----------------------------------------------------------------------------

    def _build_decoders(self) -> None:
        assert self.pipeline is not None
        names = self.pipeline.feature_names()
        typed: dict[str, Any] = {"kinds": self.pipeline.feature_kinds(),
                                 "max_value_length": self.config.limits.max_value_length}
        fields = self.kafka.fields
        limit = self.config.limits.max_message_bytes
        topics = self.kafka.topics
        units = self.kafka.timestamp_unit
        self.topic_kinds = {topics.predictions: PREDICTIONS}
        self.decoders = {PREDICTIONS: Decoder(PREDICTIONS, dict(fields.predictions), names, limit, **typed,
                                              timestamp_unit=units.get(PREDICTIONS, "seconds"))}
        if topics.features:
            self.topic_kinds[topics.features] = FEATURES
            self.decoders[FEATURES] = Decoder(FEATURES, dict(fields.features), names, limit, **typed,
                                              timestamp_unit=units.get(FEATURES, "seconds"))
        if topics.labels:
            self.topic_kinds[topics.labels] = LABELS
            self.decoders[LABELS] = Decoder(LABELS, dict(fields.labels), names, limit, **typed,
                                            timestamp_unit=units.get(LABELS, "seconds"))
        if self.decoding is not None:
            self.decoding.configure(self.decoders)

    def _restore_metrics(self) -> None:
        """Export the newest judged windows again (the store is the truth; a restart shows the same values)."""
        assert self.store is not None
        min_labels = {m.name: m.performance.min_labels for m in self.config.models}
        for model in self.config.models:
            self.metrics.restore(self.store.list_windows(model.name, limit=_RESTORED_WINDOWS), min_labels=min_labels)

    def _store_live_profile(self, model: str, profile: Any) -> int | None:
        assert self.store is not None
        spec = self.config.model(model)
        record = profile_source.store_profile(self.store, spec, profile, "live events",
                                              {"events": spec.reference.events}, self.clock())
        return record.version

    def sample_lag(self) -> None:
        """Export each assigned partition's consumer lag and the waiting label joins (on the loop's thread)."""
        if self.source is None:
            return
        try:
            lags = self.source.lag()
        except DriftdError as exc:  # a metric: keep the last exported values, as _read_log_ends keeps its ends
            self.problems.warning("lag", "consumer lag not sampled: %s", exc)
            lags = {}
        for (topic, partition), lag in lags.items():
            self.metrics.consumer_lag(topic, partition, lag)
        if self.store is not None and self.kafka.topics.labels:
            waiting = self.store.waiting_predictions()
            for model in self.config.models:
                self.metrics.label_join_pending(model.name, waiting.get(model.name, 0))
